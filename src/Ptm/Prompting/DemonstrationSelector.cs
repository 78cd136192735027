using Ptm.Data;

namespace Ptm.Prompting;

/// <summary>How the k demonstrations of in-context learning are drawn from the training split.</summary>
public enum DemoSelection
{
    /// <summary>k examples drawn uniformly without replacement (seeded); the same k for every query.</summary>
    Random,
    /// <summary>As even a spread over the labels as k allows (k / labels each, the remainder to labels drawn at
    /// random), in a seeded random order; the same k for every query.</summary>
    Balanced,
    /// <summary>For each query, the k training examples whose embeddings are most similar to its own (cosine), the
    /// most similar placed last, next to the query (Liu et al. 2022, "What makes good in-context examples for GPT-3?").</summary>
    Nearest,
}

/// <summary>Seeded, deterministic choice of demonstrations (indices into the training examples).</summary>
public static class DemonstrationSelector
{
    /// <summary>Reads random, balanced or nearest.</summary>
    /// <exception cref="InvalidInputException">Any other name.</exception>
    public static DemoSelection Parse(string name, string source) => name switch
    {
        "random" => DemoSelection.Random,
        "balanced" => DemoSelection.Balanced,
        "nearest" => DemoSelection.Nearest,
        _ => throw new InvalidInputException($"{source}: demonstration selection must be random, balanced or nearest (got \"{name}\")"),
    };

    /// <summary><paramref name="k"/> of <paramref name="count"/> indices drawn without replacement, in draw order.</summary>
    public static int[] Random(int count, int k, long seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        var rng = SplitMix64.ForStep((ulong)seed, -2);
        rng.Shuffle(order);
        return order.Take(Math.Min(k, count)).ToArray();
    }

    /// <summary>
    /// <paramref name="k"/> indices spread evenly over the distinct <paramref name="labels"/> (ordinal order):
    /// ⌊k / L⌋ of each label, then one more for ⌊k mod L⌋ labels drawn at random; within a label, examples are drawn at
    /// random. A label with too few examples gives what it has. The result is shuffled (seeded) so that labels do not
    /// come in blocks.
    /// </summary>
    public static int[] Balanced(IReadOnlyList<string> labels, int k, long seed)
    {
        var rng = SplitMix64.ForStep((ulong)seed, -3);
        var byLabel = labels.Select((l, i) => (l, i)).GroupBy(x => x.l).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => g.Select(x => x.i).ToArray()).ToList();
        foreach (var pool in byLabel) rng.Shuffle(pool);
        var quota = byLabel.Select(_ => k / byLabel.Count).ToArray();
        var extra = Enumerable.Range(0, byLabel.Count).ToArray();
        rng.Shuffle(extra);
        for (int i = 0; i < k % byLabel.Count; i++) quota[extra[i]]++;
        var chosen = byLabel.SelectMany((pool, c) => pool.Take(quota[c])).ToArray();
        rng.Shuffle(chosen);
        return chosen;
    }

    /// <summary>
    /// The <paramref name="k"/> rows of <paramref name="pool"/> most cosine-similar to <paramref name="query"/>, least
    /// similar first (so the most similar ends up next to the query); ties go to the lower index.
    /// </summary>
    public static int[] Nearest(IReadOnlyList<float[]> pool, float[] query, int k)
    {
        double Cosine(float[] a)
        {
            double dot = 0, na = 0, nq = 0;
            for (int i = 0; i < a.Length; i++) { dot += a[i] * query[i]; na += a[i] * a[i]; nq += query[i] * query[i]; }
            return na == 0 || nq == 0 ? 0 : dot / Math.Sqrt(na * nq);
        }
        var top = pool.Select((v, i) => (Sim: Cosine(v), Index: i)).OrderByDescending(x => x.Sim).ThenBy(x => x.Index).Take(k).ToList();
        top.Reverse();
        return top.Select(x => x.Index).ToArray();
    }
}
