namespace Ptm.Tokenization;

/// <summary>
/// The merge rules keyed by the ids of the two symbols, so applying BPE needs no string work:
/// (left, right) → (rank, id of the merged token). Lower rank means learned earlier, applied first.
/// </summary>
internal sealed class BpeMergeTable
{
    readonly Dictionary<long, (int Rank, int Result)> rules;

    public BpeMergeTable(int capacity) => rules = new Dictionary<long, (int, int)>(capacity, SymbolPairComparer.Instance);

    public int Count => rules.Count;

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    /// <summary>Adds a rule; false if the pair already has one (a file that repeats a merge keeps the first).</summary>
    public bool TryAdd(int left, int right, int rank, int result) => rules.TryAdd(Key(left, right), (rank, result));

    public bool TryGet(int left, int right, out int rank, out int result)
    {
        if (rules.TryGetValue(Key(left, right), out var rule)) { rank = rule.Rank; result = rule.Result; return true; }
        rank = result = -1;
        return false;
    }

    /// <summary>
    /// Applies merges to <paramref name="symbols"/>[..count] in place, as GPT-2's bpe() does: find the adjacent pair
    /// with the lowest rank, replace every non-overlapping occurrence of it left to right, repeat until no pair has
    /// a rule. Returns the new count.
    /// </summary>
    public int Apply(Span<int> symbols, int count)
    {
        while (count > 1)
        {
            int bestRank = int.MaxValue, bestResult = -1, left = -1, right = -1;
            for (int i = 0; i + 1 < count; i++)
            {
                if (TryGet(symbols[i], symbols[i + 1], out int rank, out int result) && rank < bestRank)
                {
                    bestRank = rank; bestResult = result; left = symbols[i]; right = symbols[i + 1];
                }
            }
            if (bestResult < 0) break;

            int write = 0;
            for (int read = 0; read < count;)
            {
                if (read + 1 < count && symbols[read] == left && symbols[read + 1] == right)
                {
                    symbols[write++] = bestResult;
                    read += 2;
                }
                else symbols[write++] = symbols[read++];
            }
            count = write;
        }
        return count;
    }

    /// <summary>
    /// BPE-dropout (Provilkov et al., 2020): at every step each applicable adjacent pair is left out with probability
    /// <paramref name="dropout"/>, and the lowest-ranked pair left is merged at that one position; the word stops
    /// when every pair was left out or none has a rule. With 0 this gives <see cref="Apply"/>'s result for merges
    /// learned in order (a merge never outranks the merges that made its parts): merging the best pair's leftmost
    /// occurrence, then its next, is what Apply's left-to-right pass does. Returns the new count.
    /// </summary>
    public int ApplyWithDropout(Span<int> symbols, int count, double dropout, Random random)
    {
        while (count > 1)
        {
            int bestRank = int.MaxValue, bestResult = -1, at = -1;
            for (int i = 0; i + 1 < count; i++)
            {
                if (TryGet(symbols[i], symbols[i + 1], out int rank, out int result) && random.NextDouble() >= dropout && rank < bestRank)
                {
                    bestRank = rank; bestResult = result; at = i;
                }
            }
            if (at < 0) break;
            symbols[at] = bestResult;
            symbols[(at + 2)..count].CopyTo(symbols[(at + 1)..]);
            count--;
        }
        return count;
    }
}
