namespace Ptm.Tokenization;

/// <summary>
/// The merge-learning core shared by the BPE and WordPiece trainers. Every distinct word is kept once with its
/// frequency as a sequence of token ids; pair counts are kept up to date incrementally, and an index pair → words
/// containing it means a merge rewrites only the words that contain the pair, instead of recounting the corpus
/// (which would be O(merges × corpus)). The most frequent pair is merged first; ties go to the pair whose
/// (left, right) strings sort first, ordinally, so the result never depends on hashing or input order.
/// </summary>
internal sealed class PairMergeLearner
{
    readonly List<string> tokens = new();
    readonly Dictionary<string, int> idsByToken = new(StringComparer.Ordinal);
    readonly List<int[]> words = new();
    readonly List<long> wordCounts = new();
    readonly Dictionary<long, long> pairCounts = new(SymbolPairComparer.Instance);
    readonly Dictionary<long, List<int>> wordsByPair = new(SymbolPairComparer.Instance);  // may list a word twice or after it lost the pair
    readonly PriorityQueue<long, (long Count, long Pair)> queue;

    public PairMergeLearner() =>
        queue = new PriorityQueue<long, (long, long)>(Comparer<(long Count, long Pair)>.Create(ComparePriority));

    public IReadOnlyList<string> Tokens => tokens;

    public int WordCount => words.Count;

    public bool TryGetId(string token, out int id) => idsByToken.TryGetValue(token, out id);

    public int IdOf(string token) => idsByToken[token];

    /// <summary>Adds a token (or finds it) and returns its id.</summary>
    public int AddToken(string token)
    {
        if (idsByToken.TryGetValue(token, out int id)) return id;
        tokens.Add(token);
        idsByToken.Add(token, tokens.Count - 1);
        return tokens.Count - 1;
    }

    public void AddWord(int[] symbols, long count)
    {
        words.Add(symbols);
        wordCounts.Add(count);
    }

    /// <summary>
    /// Merges pairs until the vocabulary holds <paramref name="targetSize"/> tokens or no pair is left.
    /// <paramref name="combine"/> gives the merged token's text; <paramref name="merged"/> hears of each merge.
    /// </summary>
    public void LearnMerges(int targetSize, Func<string, string, string> combine, Action<string, string>? merged = null)
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
            int id = AddToken(combine(left, right));
            merged?.Invoke(left, right);

            changed.Clear();
            foreach (int w in wordsByPair[best])
            {
                if (lastVisit[w] == step) continue;
                lastVisit[w] = step;
                if (!Contains(words[w], Left(best), Right(best))) continue;
                AddPairs(w, -1, changed);
                words[w] = MergeWord(words[w], Left(best), Right(best), id);
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

    int ComparePriority((long Count, long Pair) a, (long Count, long Pair) b)
    {
        if (a.Count != b.Count) return b.Count.CompareTo(a.Count);
        int c = string.CompareOrdinal(tokens[Left(a.Pair)], tokens[Left(b.Pair)]);
        return c != 0 ? c : string.CompareOrdinal(tokens[Right(a.Pair)], tokens[Right(b.Pair)]);
    }

    static long Pair(int left, int right) => ((long)left << 32) | (uint)right;
    static int Left(long pair) => (int)(pair >> 32);
    static int Right(long pair) => (int)pair;

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
