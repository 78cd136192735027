namespace Ptm.Data;

/// <summary>The draws Google's create_pretraining_data.py makes with Python's random.Random, on <see cref="SplitMix64"/>.</summary>
static class SplitMix64Extensions
{
    /// <summary>Uniform in [0, 1) with 53 random bits, like random.random().</summary>
    public static double NextDouble(ref this SplitMix64 rng) => (rng.Next() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [low, high], both inclusive, like random.randint.</summary>
    public static int NextInclusive(ref this SplitMix64 rng, int low, int high) => low + (int)rng.NextBelow((ulong)(high - low) + 1);

    /// <summary>Fisher-Yates, like random.shuffle.</summary>
    public static void Shuffle<T>(ref this SplitMix64 rng, IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = (int)rng.NextBelow((ulong)i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
