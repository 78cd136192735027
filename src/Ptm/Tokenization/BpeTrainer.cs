using System.Text;

namespace Ptm.Tokenization;

/// <summary>
/// Learns byte-level BPE merges over the distinct pre-tokens ("words") of a corpus, with <see cref="PairMergeLearner"/>.
/// </summary>
internal sealed class BpeTrainer
{
    readonly PairMergeLearner learner = new();
    readonly List<(string, string)> merges = new();

    BpeTrainer()
    {
        // Ids 0..255 are the bytes in byte order.
        for (int b = 0; b < 256; b++) learner.AddToken(ByteLevelAlphabet.ToChar((byte)b).ToString());
    }

    public static ByteLevelBpeTokenizer Train(IEnumerable<string> texts, int vocabSize, IReadOnlyList<string> specialTokens)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(specialTokens);
        var specials = specialTokens.Distinct(StringComparer.Ordinal).ToArray();
        if (specials.Any(string.IsNullOrEmpty)) throw new ArgumentException("special tokens must be non-empty strings", nameof(specialTokens));
        if (vocabSize < 256 + specials.Length)
            throw new ArgumentException(
                $"vocabSize {vocabSize} is too small: a byte-level BPE vocabulary needs at least 256 byte tokens + {specials.Length} special token(s) = {256 + specials.Length}",
                nameof(vocabSize));

        var trainer = new BpeTrainer();
        trainer.CountWords(texts, specials);
        var learner = trainer.learner;
        if (learner.WordCount == 0) throw new InvalidInputException("cannot train a BPE tokenizer: the training text is empty");
        learner.LearnMerges(vocabSize - specials.Length, (left, right) => left + right, (left, right) => trainer.merges.Add((left, right)));

        foreach (string special in specials)
        {
            if (learner.TryGetId(special, out _))
                throw new ArgumentException($"special token '{special}' is also an ordinary learned token; choose a different special token", nameof(specialTokens));
            learner.AddToken(special);
        }
        return new ByteLevelBpeTokenizer(learner.Tokens, trainer.merges, specials);
    }

    /// <summary>Splits the corpus into pre-tokens exactly as encoding will (special tokens cut the text and are
    /// not learned from) and counts each distinct pre-token.</summary>
    void CountWords(IEnumerable<string> texts, string[] specials)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        var pieces = new List<Range>();
        foreach (string text in texts)
        {
            foreach (var segment in SplitOnSpecials(text, specials))
            {
                ReadOnlySpan<char> span = text.AsSpan(segment);
                pieces.Clear();
                Gpt2PreTokenizer.Split(span, pieces);
                foreach (Range piece in pieces)
                {
                    ReadOnlySpan<char> p = span[piece];
                    lookup[p] = lookup.TryGetValue(p, out long n) ? n + 1 : 1;
                }
            }
        }
        foreach (var (word, count) in counts)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(word);
            learner.AddWord(bytes.Select(b => (int)b).ToArray(), count);
        }
    }

    static IEnumerable<Range> SplitOnSpecials(string text, string[] specials)
    {
        int start = 0;
        while (true)
        {
            int at = -1, length = 0;
            foreach (string s in specials)
            {
                int i = text.IndexOf(s, start, StringComparison.Ordinal);
                if (i >= 0 && (at < 0 || i < at || (i == at && s.Length > length))) { at = i; length = s.Length; }
            }
            if (at < 0) { yield return new Range(start, text.Length); yield break; }
            yield return new Range(start, at);
            start = at + length;
        }
    }
}
