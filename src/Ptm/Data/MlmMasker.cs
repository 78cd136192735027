namespace Ptm.Data;

/// <summary>
/// The positions chosen for prediction in one sequence, ascending, and what each holds in the model's input
/// ([MASK], a random token, or the original). The labels are the original tokens at <see cref="Positions"/>.
/// </summary>
public sealed record MlmMask(int[] Positions, int[] Replacements)
{
    /// <summary>No chosen positions: the mask stored under dynamic masking.</summary>
    public static readonly MlmMask Empty = new([], []);
}

/// <summary>
/// Masked-LM corruption after Google's create_masked_lm_predictions (create_pretraining_data.py): shuffle the
/// candidate words, take words while the chosen count stays within
/// min(MaxPredictionsPerSeq, max(1, round(n × MaskedLmProb))), and replace each chosen token with [MASK] 80% of the
/// time, a random token 10%, itself 10%. Differences from Google, on purpose: n counts only non-special tokens
/// (Google counts [CLS]/[SEP] too, so it masks slightly more than 15% of real tokens), every special id (not only
/// [CLS]/[SEP]) is excluded, and random replacements are drawn from the non-special ids only.
/// </summary>
public sealed class MlmMasker : IMlmMasker
{
    /// <summary>PyTorch's cross-entropy ignore_index: the label of positions not chosen.</summary>
    public const int IgnoreLabel = -100;

    readonly IMaskingVocabulary vocab;
    readonly int[] replacementIds;

    /// <summary>Probability, per-sequence cap and whole-word choice used by every mask.</summary>
    public MlmOptions Options { get; }

    /// <summary>A masker over <paramref name="vocab"/>; random replacements are drawn from its non-special ids.</summary>
    /// <exception cref="InvalidInputException"><paramref name="options"/> are out of range, or the vocabulary has no non-special ids.</exception>
    public MlmMasker(IMaskingVocabulary vocab, MlmOptions options)
    {
        options.Validate();
        this.vocab = vocab;
        Options = options;
        replacementIds = Enumerable.Range(0, vocab.VocabSize).Where(id => !vocab.IsSpecial(id)).ToArray();
        if (replacementIds.Length == 0) throw new InvalidInputException("the vocabulary has no non-special tokens to mask");
    }

    /// <summary>The generator for dynamic masking of <paramref name="row"/> of the batch at <paramref name="step"/>.</summary>
    public static SplitMix64 DynamicRng(ulong seed, long step, int row) =>
        SplitMix64.ForStep(SplitMix64.Mix(seed ^ 0x6D6C6D5F6D61736B) + (ulong)row, step); // salt: "mlm_mask"

    /// <summary>Chooses and corrupts positions of <paramref name="tokens"/> (a whole sequence, without padding).</summary>
    public MlmMask Mask(ReadOnlySpan<int> tokens, ref SplitMix64 rng)
    {
        // Candidate words: lists of positions; a "##" piece joins the word before it under whole-word masking.
        var words = new List<(int Start, int Count)>();
        int candidates = 0;
        bool previousWasWordPiece = false;
        for (int i = 0; i < tokens.Length; i++)
        {
            int id = tokens[i];
            if (vocab.IsSpecial(id)) { previousWasWordPiece = false; continue; }
            candidates++;
            if (Options.WholeWordMasking && previousWasWordPiece && vocab.IsContinuation(id))
                words[^1] = (words[^1].Start, words[^1].Count + 1);
            else words.Add((i, 1));
            previousWasWordPiece = true;
        }
        return Choose(tokens, words, candidates, ref rng);
    }

    /// <summary>
    /// Picks whole <paramref name="units"/> (runs of positions) in random order while the chosen count stays within
    /// min(MaxPredictionsPerSeq, max(1, round(<paramref name="candidates"/> × MaskedLmProb))), then corrupts each chosen
    /// position 80/10/10. Any grouping of tokens into units (words, phrases, names) shares this rate and corruption.
    /// </summary>
    internal MlmMask Choose(ReadOnlySpan<int> tokens, List<(int Start, int Count)> units, int candidates, ref SplitMix64 rng)
    {
        var words = units;
        if (candidates == 0) return MlmMask.Empty;

        int toPredict = Math.Min(Options.MaxPredictionsPerSeq,
            Math.Max(1, (int)Math.Round(candidates * Options.MaskedLmProb, MidpointRounding.ToEven))); // Python's round()
        rng.Shuffle(words);

        var chosen = new List<int>(toPredict);
        foreach (var (start, count) in words)
        {
            if (chosen.Count >= toPredict) break;
            if (chosen.Count + count > toPredict) continue; // a whole word or nothing
            for (int k = 0; k < count; k++) chosen.Add(start + k);
        }
        chosen.Sort();

        var replacements = new int[chosen.Count];
        for (int k = 0; k < chosen.Count; k++)
        {
            int original = tokens[chosen[k]];
            if (rng.NextDouble() < 0.8) replacements[k] = vocab.MaskId;
            else if (rng.NextDouble() < 0.5) replacements[k] = original;
            else replacements[k] = replacementIds[rng.NextBelow((ulong)replacementIds.Length)];
        }
        return new MlmMask(chosen.ToArray(), replacements);
    }

    /// <summary>Writes the model input (tokens with the mask applied) and the labels (original ids where chosen, -100 elsewhere).</summary>
    public static void Apply(ReadOnlySpan<int> tokens, MlmMask mask, Span<long> inputIds, Span<long> labels)
    {
        for (int i = 0; i < tokens.Length; i++) inputIds[i] = tokens[i];
        labels[..tokens.Length].Fill(IgnoreLabel);
        for (int k = 0; k < mask.Positions.Length; k++)
        {
            int p = mask.Positions[k];
            labels[p] = tokens[p];
            inputIds[p] = mask.Replacements[k];
        }
    }
}
