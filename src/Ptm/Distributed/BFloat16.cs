namespace Ptm.Distributed;

/// <summary>bfloat16 ⇄ float32 by bit patterns: bfloat16 is the upper half of a float32, so widening is a shift and
/// narrowing rounds the dropped half to nearest, ties to even (NaN kept NaN).</summary>
internal static class BFloat16
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort FromSingle(float value)
    {
        int bits = BitConverter.SingleToInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40); // quiet NaN, sign kept
        int roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary><paramref name="accumulator"/>[i] = bf16(float(<paramref name="incoming"/>[i]) + float(accumulator[i])).</summary>
    public static void AddInto(ReadOnlySpan<ushort> incoming, Span<ushort> accumulator)
    {
        for (int i = 0; i < accumulator.Length; i++)
            accumulator[i] = FromSingle(ToSingle(incoming[i]) + ToSingle(accumulator[i]));
    }
}
