using Ptm.Kernels;
using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Tests.Kernels;

public class SplitRowProductTests
{
    /// <summary>Runs <paramref name="body"/> with <paramref name="threads"/> torch threads (process-wide; tests run serially).</summary>
    internal static void WithThreads(int threads, Action body)
    {
        int before = get_num_threads();
        set_num_threads(threads);
        try { body(); }
        finally { set_num_threads(before); }
    }

    [Theory]
    [InlineData(768, 256, true)]   // GPT's c_attn at n_embd 256
    [InlineData(256, 256, true)]
    [InlineData(1024, 256, true)]
    [InlineData(256, 1024, true)]
    [InlineData(2048, 256, false)] // the tied LM head has no bias
    [InlineData(40, 20, true)]     // 400 multiply-adds per half: the smallest product that is split
    public void SingleRowProductIsBitIdenticalToLinear(long outFeatures, long inFeatures, bool withBias) => WithThreads(2, () =>
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        manual_seed(4);
        var weight = randn(outFeatures, inFeatures) * 0.02;
        var bias = withBias ? randn(outFeatures) * 0.1 : null;
        var split = new SplitRowProduct();
        foreach (var x in new[] { randn(1, 1, inFeatures), randn(1, inFeatures) })
        {
            var y = split.TryForward(x, weight, bias);
            Assert.NotNull(y);
            var expected = nn.functional.linear(x, weight, bias);
            Assert.Equal(expected.shape, y!.shape);
            Assert.True(expected.eq(y).all().item<bool>(), "the split product must equal linear bit for bit");
        }
        // The cached halves follow the weight: an in-place update is seen, a new weight storage rebuilds them.
        weight.mul_(2);
        var x1 = randn(1, inFeatures);
        Assert.True(nn.functional.linear(x1, weight, bias).eq(split.TryForward(x1, weight, bias)!).all().item<bool>());
        var other = randn(outFeatures, inFeatures);
        Assert.True(nn.functional.linear(x1, other, bias).eq(split.TryForward(x1, other, bias)!).all().item<bool>());
    });

    [Fact]
    public void OtherProductsGoTheUsualWay()
    {
        using var scope = NewDisposeScope();
        var weight = randn(64, 32);
        var split = new SplitRowProduct();
        WithThreads(2, () =>
        {
            using (no_grad())
            {
                Assert.NotNull(split.TryForward(randn(1, 32), weight, null));    // the case it is for
                Assert.Null(split.TryForward(randn(2, 32), weight, null));       // two rows: a real matrix product
                Assert.Null(split.TryForward(randn(1, 32), randn(63, 32), null)); // odd output width
                Assert.Null(split.TryForward(randn(1, 20), randn(38, 20), null)); // under 400 per half: libtorch's own loop
            }
            Assert.Null(split.TryForward(randn(1, 32), weight, null));           // autograd on: training keeps linear
        });
        WithThreads(1, () =>
        {
            using var _ = no_grad();
            Assert.Null(split.TryForward(randn(1, 32), weight, null));           // nothing to split over
        });
        split.Dispose();
    }
}
