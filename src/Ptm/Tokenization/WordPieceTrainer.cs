namespace Ptm.Tokenization;

/// <summary>
/// Builds a WordPiece vocabulary the way Hugging Face's tokenizers WordPieceTrainer does: BPE merges learned over
/// the basic-tokenized words, each word starting as "c ##c ##c". A merged token keeps the "##" prefix iff its left
/// part had it ("##a" + "##b" → "##ab", "a" + "##b" → "ab"). Vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0–4),
/// then every character seen, word-initial forms then "##" forms (code-point order), then merged tokens in the
/// order learned. Pair counts are weighted by word frequency and kept up to date incrementally; ties go to the pair
/// whose (left, right) strings sort first, ordinally, so the result does not depend on hashing or input order.
/// </summary>
internal sealed class WordPieceTrainer
{
    const string Prefix = "##";
    readonly List<string> tokens = new();
    readonly Dictionary<string, int> idsByToken = new(StringComparer.Ordinal);
    readonly List<int[]> words = new();
    readonly List<long> wordCounts = new();
    readonly Dictionary<long, long> pairCounts = new(SymbolPairComparer.Instance);
    readonly Dictionary<long, List<int>> wordsByPair = new(SymbolPairComparer.Instance);  // may list stale words
    readonly PriorityQueue<long, (long Count, long Pair)> queue;

    WordPieceTrainer() =>
        queue = new PriorityQueue<long, (long, long)>(Comparer<(long Count, long Pair)>.Create(ComparePriority));

    int ComparePriority((long Count, long Pair) a, (long Count, long Pair) b)
    {
        if (a.Count != b.Count) return b.Count.CompareTo(a.Count);
        int c = string.CompareOrdinal(tokens[Left(a.Pair)], tokens[Left(b.Pair)]);
        return c != 0 ? c : string.CompareOrdinal(tokens[Right(a.Pair)], tokens[Right(b.Pair)]);
    }

    static long Pair(int left, int right) => ((long)left << 32) | (uint)right;
    static int Left(long pair) => (int)(pair >> 32);
    static int Right(long pair) => (int)pair;

    int AddToken(string token)
    {
        if (idsByToken.TryGetValue(token, out int id)) return id;
        tokens.Add(token);
        idsByToken.Add(token, tokens.Count - 1);
        return tokens.Count - 1;
    }

    public static WordPieceTokenizer Train(IEnumerable<string> texts, int vocabSize, bool doLowerCase)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var settings = new WordPieceSettings { DoLowerCase = doLowerCase };
        var basic = new BertBasicTokenizer(doLowerCase, neverSplit: WordPieceTokenizer.RequiredSpecialTokens);
        var counts = CountWords(texts, basic);
        if (counts.Count == 0) throw new InvalidInputException("cannot train a WordPiece tokenizer: the training text has no words");

        var trainer = new WordPieceTrainer();
        foreach (string s in WordPieceTokenizer.RequiredSpecialTokens) trainer.AddToken(s);
        var alphabet = new SortedSet<int>();
        foreach (string word in counts.Keys)
            foreach (var rune in word.EnumerateRunes()) alphabet.Add(rune.Value);
        foreach (int cp in alphabet) trainer.AddToken(char.ConvertFromUtf32(cp));
        foreach (int cp in alphabet) trainer.AddToken(Prefix + char.ConvertFromUtf32(cp));
        if (vocabSize < trainer.tokens.Count)
            throw new ArgumentException(
                $"vocabSize {vocabSize} is too small: the 5 special tokens plus {alphabet.Count} characters in word-initial and ## forms need {trainer.tokens.Count}",
                nameof(vocabSize));

        // Ordinal word order makes the pair index, and so the whole run, independent of hashing.
        foreach (var (word, count) in counts.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var runes = word.EnumerateRunes().Select(r => r.ToString()).ToArray();
            var symbols = new int[runes.Length];
            for (int i = 0; i < runes.Length; i++) symbols[i] = trainer.idsByToken[i == 0 ? runes[i] : Prefix + runes[i]];
            trainer.words.Add(symbols);
            trainer.wordCounts.Add(count);
        }
        trainer.LearnMerges(vocabSize);
        return new WordPieceTokenizer(trainer.tokens, settings);
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

    void LearnMerges(int targetSize)
    {
        for (int w = 0; w < words.Count; w++) AddPairs(w, +1, null);
        foreach (var (pair, count) in pairCounts) queue.Enqueue(pair, (count, pair));

        var lastVisit = new int[words.Count];
        var changed = new HashSet<long>();
        int step = 0;
        while (tokens.Count < targetSize && queue.TryDequeue(out long best, out var priority))
        {
            // Entries whose count changed since they were queued are stale; the current count is queued too.
            if (!pairCounts.TryGetValue(best, out long current) || current != priority.Count || current <= 0) continue;

            step++;
            string left = tokens[Left(best)], right = tokens[Right(best)];
            // The right part is never word-initial, so it always carries the prefix; the result inherits the left's.
            int merged = AddToken(left + right[Prefix.Length..]);

            changed.Clear();
            foreach (int w in wordsByPair[best])
            {
                if (lastVisit[w] == step) continue;
                lastVisit[w] = step;
                if (!Contains(words[w], Left(best), Right(best))) continue;
                AddPairs(w, -1, changed);
                words[w] = MergeWord(words[w], Left(best), Right(best), merged);
                AddPairs(w, +1, changed);
            }
            wordsByPair.Remove(best);
            pairCounts.Remove(best);
            foreach (long pair in changed)
            {
                if (!pairCounts.TryGetValue(pair, out long count)) continue;
                if (count > 0) queue.Enqueue(pair, (count, pair));
                else pairCounts.Remove(pair);
            }
        }
    }

    /// <summary>Adds (sign +1) or removes (-1) the word's adjacent pairs, weighted by its frequency.</summary>
    void AddPairs(int w, int sign, HashSet<long>? changed)
    {
        int[] symbols = words[w];
        long weight = sign * wordCounts[w];
        for (int i = 0; i + 1 < symbols.Length; i++)
        {
            long pair = Pair(symbols[i], symbols[i + 1]);
            pairCounts[pair] = pairCounts.GetValueOrDefault(pair) + weight;
            changed?.Add(pair);
            if (sign > 0)
            {
                if (!wordsByPair.TryGetValue(pair, out var list)) wordsByPair[pair] = list = new List<int>();
                if (list.Count == 0 || list[^1] != w) list.Add(w);
            }
        }
    }

    static bool Contains(int[] symbols, int left, int right)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
            if (symbols[i] == left && symbols[i + 1] == right) return true;
        return false;
    }

    /// <summary>Replaces non-overlapping occurrences left to right.</summary>
    static int[] MergeWord(int[] symbols, int left, int right, int merged)
    {
        var result = new List<int>(symbols.Length);
        for (int i = 0; i < symbols.Length;)
        {
            if (i + 1 < symbols.Length && symbols[i] == left && symbols[i + 1] == right) { result.Add(merged); i += 2; }
            else result.Add(symbols[i++]);
        }
        return result.ToArray();
    }
}
