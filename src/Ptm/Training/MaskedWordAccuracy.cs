using System.Reflection;
using Ptm.Data;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>
/// Which words are content words (nouns, verbs, adjectives, adverbs, names) for <see cref="MaskedWordAccuracy"/>: a word
/// of at least two characters, all letters, that is not in a fixed function-word list (articles, pronouns, prepositions,
/// conjunctions, auxiliaries, particles, and the King James Bible's forms such as thee, thou, hath, unto). Punctuation,
/// numbers written in digits and single letters are never content words.
/// </summary>
/// <remarks>The shipped list (<see cref="Default"/>) is the embedded file <c>src/Ptm/Training/function-words.txt</c>:
/// one lower-case word per line, '#' starting a comment. Words are compared lower-cased.</remarks>
public sealed class ContentWords
{
    const string ResourceName = "Ptm.Training.function-words.txt";

    readonly HashSet<string> functionWords;

    /// <summary>Content words are letter-only words of two or more characters not in <paramref name="functionWords"/>.</summary>
    public ContentWords(IEnumerable<string> functionWords)
    {
        ArgumentNullException.ThrowIfNull(functionWords);
        this.functionWords = new HashSet<string>(functionWords.Select(w => w.Trim().ToLowerInvariant()).Where(w => w.Length > 0), StringComparer.Ordinal);
    }

    /// <summary>The shipped function-word list (231 words).</summary>
    public static ContentWords Default { get; } = new(ReadList());

    /// <summary>The function words, lower-cased.</summary>
    public IReadOnlySet<string> FunctionWords => functionWords;

    /// <summary>Whether <paramref name="word"/> (any case) is a content word.</summary>
    public bool IsContent(string word)
    {
        if (word.Length < 2) return false;
        foreach (char c in word)
            if (!char.IsLetter(c)) return false;
        return !functionWords.Contains(word.ToLowerInvariant());
    }

    static IEnumerable<string> ReadList()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Ptm.dll lacks its embedded resource {ResourceName}");
        using var reader = new StreamReader(stream);
        var words = new List<string>();
        while (reader.ReadLine() is { } line)
            if (line.Length > 0 && line[0] != '#') words.Add(line);
        return words;
    }
}

/// <summary>
/// Masked-LM accuracy counted by word rather than by token: a word is a WordPiece token and the "##" pieces that
/// continue it; a word with at least one masked piece is counted, and it is correct only when every one of its masked
/// pieces is predicted exactly. <see cref="ContentAccuracy"/> counts only the words <see cref="ContentWords"/> accepts,
/// so frequent function words and punctuation, which a small model learns first, do not dominate the figure.
/// </summary>
public sealed class MaskedWordAccuracy(WordPieceTokenizer tokenizer, ContentWords? contentWords = null)
{
    readonly ContentWords content = contentWords ?? ContentWords.Default;
    readonly MaskingVocabulary vocabulary = MaskingVocabulary.FromWordPiece(tokenizer);

    /// <summary>Words with at least one masked piece.</summary>
    public long Words { get; private set; }

    /// <summary>Of <see cref="Words"/>, those with every masked piece predicted.</summary>
    public long WordsCorrect { get; private set; }

    /// <summary>Masked words that are content words.</summary>
    public long Content { get; private set; }

    /// <summary>Of <see cref="Content"/>, those with every masked piece predicted.</summary>
    public long ContentCorrect { get; private set; }

    /// <summary>WordsCorrect / Words (NaN before any word).</summary>
    public double WordAccuracy => Words == 0 ? double.NaN : (double)WordsCorrect / Words;

    /// <summary>ContentCorrect / Content (NaN before any content word).</summary>
    public double ContentAccuracy => Content == 0 ? double.NaN : (double)ContentCorrect / Content;

    /// <summary>Counts one sequence.</summary>
    /// <param name="originalIds">the sequence's token ids before masking (special tokens and padding included)</param>
    /// <param name="masked">which positions were masked-LM targets</param>
    /// <param name="predicted">the model's top token at each position (only masked positions are read)</param>
    public void Add(ReadOnlySpan<long> originalIds, ReadOnlySpan<bool> masked, ReadOnlySpan<long> predicted)
    {
        if (masked.Length != originalIds.Length || predicted.Length != originalIds.Length)
            throw new ArgumentException($"lengths differ: {originalIds.Length} ids, {masked.Length} mask flags, {predicted.Length} predictions");
        for (int start = 0; start < originalIds.Length;)
        {
            int id = (int)originalIds[start];
            if (vocabulary.IsSpecial(id) && id != tokenizer.UnkId) { start++; continue; }
            int end = start + 1;
            while (end < originalIds.Length && vocabulary.IsContinuation((int)originalIds[end])) end++;
            bool any = false, right = true;
            for (int i = start; i < end; i++)
            {
                if (!masked[i]) continue;
                any = true;
                right &= predicted[i] == originalIds[i];
            }
            if (any)
            {
                Words++;
                if (right) WordsCorrect++;
                if (content.IsContent(WordText(originalIds[start..end])))
                {
                    Content++;
                    if (right) ContentCorrect++;
                }
            }
            start = end;
        }
    }

    string WordText(ReadOnlySpan<long> pieces)
    {
        var text = new System.Text.StringBuilder();
        foreach (long p in pieces)
        {
            if (p == tokenizer.UnkId) return WordPieceTokenizer.UnkToken;
            string piece = tokenizer.TokenText((int)p);
            text.Append(piece.StartsWith("##", StringComparison.Ordinal) ? piece.AsSpan(2) : piece);
        }
        return text.ToString();
    }
}

/// <summary>Settings of <see cref="MaskedWordEvaluation"/>; the defaults are the protocol Ptm's figures use.</summary>
public sealed record MaskedWordEvaluationOptions
{
    /// <summary>Tokens per sequence, [CLS] and [SEP] included (at most the model's positions).</summary>
    public int MaxSeqLength { get; init; } = 64;

    /// <summary>Fraction of each sequence's words masked (rounded, at least one).</summary>
    public double MaskedFraction { get; init; } = 0.15;

    /// <summary>Seeds the choice of masked words, so every model sees the same masks for the same text and vocabulary.</summary>
    public ulong Seed { get; init; } = 20261207;

    /// <summary>Sequences per forward pass.</summary>
    public int BatchSize { get; init; } = 32;

    /// <exception cref="InvalidInputException">a setting is out of range</exception>
    public void Validate()
    {
        if (MaxSeqLength < 3) throw new InvalidInputException($"{nameof(MaskedWordEvaluationOptions)}.{nameof(MaxSeqLength)}: expected at least 3, got {MaxSeqLength}");
        if (!(MaskedFraction > 0 && MaskedFraction <= 1)) throw new InvalidInputException($"{nameof(MaskedWordEvaluationOptions)}.{nameof(MaskedFraction)}: expected a fraction in (0, 1], got {MaskedFraction}");
        if (BatchSize < 1) throw new InvalidInputException($"{nameof(MaskedWordEvaluationOptions)}.{nameof(BatchSize)}: expected at least 1, got {BatchSize}");
    }
}

/// <summary>What <see cref="MaskedWordEvaluation.Evaluate"/> measured.</summary>
/// <param name="Sequences">sequences the text was packed into</param>
/// <param name="Words">masked words</param>
/// <param name="WordAccuracy">masked words predicted whole (every piece right)</param>
/// <param name="ContentWords">masked content words</param>
/// <param name="ContentAccuracy">masked content words predicted whole</param>
public sealed record MaskedWordReport(int Sequences, long Words, double WordAccuracy, long ContentWords, double ContentAccuracy);

/// <summary>
/// A fixed masked-word test for any BERT with its MLM head, independent of how the model was pre-trained: held-out
/// lines are packed in order into sequences <c>[CLS] text [SEP]</c> of at most <see cref="MaskedWordEvaluationOptions.MaxSeqLength"/>
/// tokens (a blank line ends a sequence; a longer line is cut at word starts), a seeded
/// <see cref="MaskedWordEvaluationOptions.MaskedFraction"/> of each sequence's words has every piece replaced by
/// [MASK] (as a user of fill-mask would), and each masked word is scored by <see cref="MaskedWordAccuracy"/>.
/// </summary>
public static class MaskedWordEvaluation
{
    /// <summary>Masked-word and content-word accuracy of <paramref name="model"/> on <paramref name="lines"/>.</summary>
    /// <exception cref="InvalidInputException">the text has no words, or the options are out of range</exception>
    public static MaskedWordReport Evaluate(BertForPreTraining model, WordPieceTokenizer tokenizer, IEnumerable<string> lines,
        MaskedWordEvaluationOptions? options = null, ContentWords? contentWords = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(lines);
        options ??= new MaskedWordEvaluationOptions();
        options.Validate();
        int T = Math.Min(options.MaxSeqLength, model.Config.MaxPositionEmbeddings);
        var vocabulary = MaskingVocabulary.FromWordPiece(tokenizer);
        var sequences = Pack(tokenizer, vocabulary, lines, T - 2);
        if (sequences.Count == 0) throw new InvalidInputException("masked-word evaluation: the text has no words");
        var score = new MaskedWordAccuracy(tokenizer, contentWords);
        using var mode = EvalMode.Enter(model);
        using var noGrad = no_grad();
        for (int first = 0; first < sequences.Count; first += options.BatchSize)
        {
            using var scope = NewDisposeScope();
            int B = Math.Min(options.BatchSize, sequences.Count - first);
            var original = new long[B * T];
            var inputs = new long[B * T];
            var attention = new long[B * T];
            var masked = new bool[B * T];
            for (int b = 0; b < B; b++)
            {
                var seq = sequences[first + b];
                var row = new long[seq.Length + 2];
                row[0] = tokenizer.ClsId;
                for (int i = 0; i < seq.Length; i++) row[i + 1] = seq[i];
                row[^1] = tokenizer.SepId;
                row.CopyTo(original, b * T);
                row.CopyTo(inputs, b * T);
                for (int i = 0; i < row.Length; i++) attention[b * T + i] = 1;
                var rng = SplitMix64.ForStep(options.Seed, first + b);
                foreach (int i in ChooseWords(row, vocabulary, options.MaskedFraction, ref rng))
                {
                    masked[b * T + i] = true;
                    inputs[b * T + i] = tokenizer.MaskId;
                }
            }
            var (logits, _) = model.forward(new BertInputs(tensor(inputs, B, T), zeros(B, T, ScalarType.Int64), tensor(attention, B, T))); // (B, T, V)
            var predicted = logits.argmax(-1).reshape(-1).data<long>().ToArray();
            for (int b = 0; b < B; b++)
                score.Add(original.AsSpan(b * T, T), masked.AsSpan(b * T, T), predicted.AsSpan(b * T, T));
        }
        return new MaskedWordReport(sequences.Count, score.Words, score.WordAccuracy, score.Content, score.ContentAccuracy);
    }

    /// <summary>Positions of the words chosen in <paramref name="row"/>: word starts shuffled, the first
    /// round(fraction · words) (at least one) taken, each with its "##" continuations.</summary>
    internal static IEnumerable<int> ChooseWords(long[] row, IMaskingVocabulary vocabulary, double fraction, ref SplitMix64 rng)
    {
        var starts = new List<int>();
        for (int i = 0; i < row.Length; i++)
            if (!vocabulary.IsSpecial((int)row[i]) && !vocabulary.IsContinuation((int)row[i])) starts.Add(i);
        if (starts.Count == 0) return [];
        rng.Shuffle(starts);
        int n = Math.Clamp((int)Math.Round(fraction * starts.Count, MidpointRounding.AwayFromZero), 1, starts.Count);
        var chosen = new List<int>();
        foreach (int s in starts.Take(n))
        {
            chosen.Add(s);
            for (int i = s + 1; i < row.Length && vocabulary.IsContinuation((int)row[i]); i++) chosen.Add(i);
        }
        chosen.Sort();
        return chosen;
    }

    /// <summary>Lines packed in order into sequences of at most <paramref name="budget"/> tokens.</summary>
    internal static List<int[]> Pack(WordPieceTokenizer tokenizer, IMaskingVocabulary vocabulary, IEnumerable<string> lines, int budget)
    {
        var sequences = new List<int[]>();
        var current = new List<int>();
        void Flush()
        {
            if (current.Count > 0) sequences.Add([.. current]);
            current.Clear();
        }
        foreach (string line in lines)
        {
            if (string.IsNullOrWhiteSpace(line)) { Flush(); continue; }
            var ids = tokenizer.Encode(line);
            if (current.Count + ids.Length > budget) Flush();
            int at = 0;
            while (ids.Length - at > budget)
            {
                int cut = at + budget; // cut before a word start so no word is split across sequences
                while (cut > at + 1 && vocabulary.IsContinuation(ids[cut])) cut--;
                sequences.Add(ids[at..cut]);
                at = cut;
            }
            current.AddRange(ids.AsSpan(at));
        }
        Flush();
        return sequences;
    }
}
