using Ptm.Distributed;

namespace Ptm.Tests.Distributed;

/// <summary>The bfloat16 reduction MPI runs for us: float32 sums rounded to nearest, ties to even, as libtorch rounds.</summary>
public class BFloat16Tests
{
    [Theory]
    [InlineData(1.0f, 0x3F80)]
    [InlineData(-2.0f, 0xC000)]
    [InlineData(1.00390625f, 0x3F80)]   // 1 + 2^-8: halfway between 0x3F80 and 0x3F81, ties to even (down)
    [InlineData(1.01171875f, 0x3F82)]   // 1 + 3·2^-8: halfway between 0x3F81 and 0x3F82, ties to even (up)
    [InlineData(1.0039065f, 0x3F81)]    // a float32 step above the halfway point rounds up
    [InlineData(float.PositiveInfinity, 0x7F80)]
    [InlineData(float.MaxValue, 0x7F80)] // rounds past the largest finite bfloat16 (0x7F7F) to infinity
    public void RoundsToNearestEven(float value, int bits) => Assert.Equal((ushort)bits, BFloat16.FromSingle(value));

    [Fact]
    public void AgreesWithLibtorchOnRandomValues()
    {
        var rng = new Random(3);
        var values = Enumerable.Range(0, 4096).Select(_ => (float)((rng.NextDouble() - 0.5) * Math.Pow(2, rng.Next(-30, 30)))).ToArray();
        using var t = TorchSharp.torch.tensor(values).to(TorchSharp.torch.ScalarType.BFloat16);
        var expected = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(t.bytes).ToArray();
        Assert.Equal(expected, values.Select(BFloat16.FromSingle).ToArray());
    }

    [Fact]
    public void NaNStaysNaNAndSumsRound()
    {
        Assert.True(float.IsNaN(BFloat16.ToSingle(BFloat16.FromSingle(float.NaN))));
        Span<ushort> acc = [BFloat16.FromSingle(1f), BFloat16.FromSingle(256f)];
        BFloat16.AddInto([BFloat16.FromSingle(2f), BFloat16.FromSingle(1f)], acc);
        Assert.Equal(3f, BFloat16.ToSingle(acc[0]));
        Assert.Equal(256f, BFloat16.ToSingle(acc[1])); // 257 is not a bfloat16; ties to even gives 256
    }
}
