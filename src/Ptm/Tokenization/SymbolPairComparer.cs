namespace Ptm.Tokenization;

/// <summary>
/// Hashes a pair of token ids packed into a long (left &lt;&lt; 32 | right). The default long hash XORs the two
/// halves, so with ids below 65,536 all pairs crowd into 65,536 buckets and (a,b) always collides with (b,a);
/// a multiplicative mix spreads them (measured: ~10x faster first-time encoding of GPT-2 pre-tokens).
/// </summary>
internal sealed class SymbolPairComparer : IEqualityComparer<long>
{
    public static readonly SymbolPairComparer Instance = new();

    public bool Equals(long x, long y) => x == y;

    public int GetHashCode(long pair) => (int)(((ulong)pair * 0x9E3779B97F4A7C15UL) >> 32);
}
