namespace Ptm.Tokenization;

/// <summary>
/// Builds a WordPiece vocabulary the way Hugging Face's tokenizers WordPieceTrainer does: BPE merges learned over
/// the basic-tokenized words, each word starting as "c ##c ##c". A merged token keeps the "##" prefix iff its left
/// part had it ("##a" + "##b" → "##ab", "a" + "##b" → "ab"). Vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0–4),
/// then every character seen, word-initial forms then "##" forms (code-point order), then merged tokens in the
/// order learned, by <see cref="PairMergeLearner"/> (frequency-weighted pair counts, ties by string order).
/// </summary>
internal static class WordPieceTrainer
{
    const string Prefix = "##";

    public static WordPieceTokenizer Train(IEnumerable<string> texts, int vocabSize, bool doLowerCase)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var settings = new WordPieceSettings { DoLowerCase = doLowerCase };
        var basic = new BertBasicTokenizer(doLowerCase, neverSplit: WordPieceTokenizer.RequiredSpecialTokens);
        var counts = CountWords(texts, basic);
        if (counts.Count == 0) throw new InvalidInputException("cannot train a WordPiece tokenizer: the training text has no words");

        var learner = new PairMergeLearner();
        foreach (string s in WordPieceTokenizer.RequiredSpecialTokens) learner.AddToken(s);
        var alphabet = new SortedSet<int>();
        foreach (string word in counts.Keys)
            foreach (var rune in word.EnumerateRunes()) alphabet.Add(rune.Value);
        foreach (int cp in alphabet) learner.AddToken(char.ConvertFromUtf32(cp));
        foreach (int cp in alphabet) learner.AddToken(Prefix + char.ConvertFromUtf32(cp));
        if (vocabSize < learner.Tokens.Count)
            throw new ArgumentException(
                $"vocabSize {vocabSize} is too small: the 5 special tokens plus {alphabet.Count} characters in word-initial and ## forms need {learner.Tokens.Count}",
                nameof(vocabSize));

        // Ordinal word order makes the pair index, and so the whole run, independent of hashing.
        foreach (var (word, count) in counts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var runes = word.EnumerateRunes().Select(r => r.ToString()).ToArray();
            var symbols = new int[runes.Length];
            for (int i = 0; i < runes.Length; i++) symbols[i] = learner.IdOf(i == 0 ? runes[i] : Prefix + runes[i]);
            learner.AddWord(symbols, count);
        }
        // The right part is never word-initial, so it always carries the prefix; the result inherits the left's.
        learner.LearnMerges(vocabSize, (left, right) => left + right[Prefix.Length..]);
        return new WordPieceTokenizer(learner.Tokens, settings);
    }

    /// <summary>Distinct words as encoding will see them; special tokens are not learned from.</summary>
    static Dictionary<string, long> CountWords(IEnumerable<string> texts, BertBasicTokenizer basic)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        var specials = new HashSet<string>(WordPieceTokenizer.RequiredSpecialTokens, StringComparer.Ordinal);
        var specialsLookup = specials.GetAlternateLookup<ReadOnlySpan<char>>();
        var text = new OffsetText();
        var found = new List<(int Start, int Length)>();
        foreach (string t in texts)
        {
            basic.Tokenize(t, text, found);
            foreach (var (start, length) in found)
            {
                var word = text.Slice(start, length);
                if (specialsLookup.Contains(word)) continue;
                lookup[word] = lookup.TryGetValue(word, out long n) ? n + 1 : 1;
            }
        }
        return counts;
    }
}
