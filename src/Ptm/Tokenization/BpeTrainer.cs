using System.Text;

namespace Ptm.Tokenization;

/// <summary>
/// Learns byte-level BPE merges. Every distinct pre-token ("word") is kept once with its frequency; pair counts are
/// kept up to date incrementally, and an index pair → words containing it means a merge only rewrites the words
/// that contain the pair, instead of recounting the corpus (which would be O(merges × corpus)).
/// </summary>
internal sealed class BpeTrainer
{
    readonly List<string> tokens = new();                 // id → token in GPT-2's byte alphabet
    readonly Dictionary<string, int> idsByToken = new(StringComparer.Ordinal);
    readonly List<(string, string)> merges = new();
    readonly List<int[]> words = new();
    readonly List<long> wordCounts = new();
    readonly Dictionary<long, long> pairCounts = new(SymbolPairComparer.Instance);
    readonly Dictionary<long, List<int>> wordsByPair = new(SymbolPairComparer.Instance);  // may list a word twice or after it lost the pair
    readonly PriorityQueue<long, (long Count, long Pair)> queue;

    BpeTrainer()
    {
        // Ids 0..255 are the bytes in byte order.
        for (int b = 0; b < 256; b++) AddToken(ByteLevelAlphabet.ToChar((byte)b).ToString());
        queue = new PriorityQueue<long, (long, long)>(Comparer<(long Count, long Pair)>.Create(ComparePriority));
    }

    /// <summary>Most frequent first; ties go to the pair whose (left, right) strings sort first (ordinal), so the
    /// result never depends on hash or input order.</summary>
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
        if (trainer.words.Count == 0) throw new InvalidInputException("cannot train a BPE tokenizer: the training text is empty");
        trainer.LearnMerges(vocabSize - specials.Length);

        foreach (string special in specials)
        {
            if (trainer.idsByToken.ContainsKey(special))
                throw new ArgumentException($"special token '{special}' is also an ordinary learned token; choose a different special token", nameof(specialTokens));
            trainer.AddToken(special);
        }
        return new ByteLevelBpeTokenizer(trainer.tokens, trainer.merges, specials);
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
            words.Add(bytes.Select(b => (int)b).ToArray());
            wordCounts.Add(count);
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

    void LearnMerges(int targetSize)
    {
        for (int w = 0; w < words.Count; w++) AddPairs(w, +1, null);
        foreach (var (pair, count) in pairCounts) queue.Enqueue(pair, (count, pair));

        var lastVisit = new int[words.Count];
        var changed = new HashSet<long>();
        int step = 0;
        while (tokens.Count < targetSize && queue.TryDequeue(out long best, out var priority))
        {
            // The queue holds stale entries for pairs whose count changed since they were queued; skip them.
            if (!pairCounts.TryGetValue(best, out long current) || current != priority.Count || current <= 0) continue;

            step++;
            string left = tokens[Left(best)], right = tokens[Right(best)];
            int merged = AddToken(left + right);
            merges.Add((left, right));

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
            foreach (long pair in changed)
            {
                long count = pairCounts[pair];
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

    /// <summary>Replaces non-overlapping occurrences left to right, the same rule encoding applies.</summary>
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
