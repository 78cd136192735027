namespace Ptm.Data;

/// <summary>
/// Steele, Lea and Flood's SplitMix64: a tiny generator whose whole state is one 64-bit word, so a stream can be
/// recreated from (seed, step) alone instead of saving generator state in checkpoints. Not thread-safe (a struct that
/// each caller owns).
/// </summary>
public struct SplitMix64(ulong state)
{
    const ulong Gamma = 0x9E3779B97F4A7C15;
    ulong state = state;

    /// <summary>Advances the state and returns the next uniform 64-bit value.</summary>
    public ulong Next()
    {
        state += Gamma;
        return Mix(state);
    }

    /// <summary>Uniform in [0, bound) without modulo bias.</summary>
    public ulong NextBelow(ulong bound)
    {
        ArgumentOutOfRangeException.ThrowIfZero(bound);
        // Values below 2^64 mod bound would make the low residues more likely; reject them.
        ulong threshold = (0 - bound) % bound;
        while (true)
        {
            ulong x = Next();
            if (x >= threshold) return x % bound;
        }
    }

    /// <summary>The SplitMix64 output function: a bijective avalanche mix of 64 bits.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    /// <summary>A generator for one (seed, step) pair, independent of every other pair for practical purposes.</summary>
    public static SplitMix64 ForStep(ulong seed, long step) => new(Mix(seed ^ Mix((ulong)step + Gamma)));
}
