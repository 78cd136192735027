using Ptm.Kernels;
using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Tests.Kernels;

public class TransposedWeightsTests
{
    [Theory]
    [InlineData(768, 256, true, 16)]   // GPT's c_attn at n_embd 256, a full serving batch
    [InlineData(256, 1024, true, 12)]  // its MLP c_proj
    [InlineData(2048, 256, false, 16)] // the tied LM head has no bias
    [InlineData(33, 7, true, TransposedWeights.MinRows)] // odd sizes, the fewest rows it takes
    public void SeveralRowsGiveLinearsProduct(long outFeatures, long inFeatures, bool withBias, int rows)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        manual_seed(5);
        var weight = randn(outFeatures, inFeatures) * 0.02;
        var bias = withBias ? randn(outFeatures) * 0.1 : null;
        using var set = new TransposedWeights();
        foreach (var x in new[] { randn(rows, 1, inFeatures), randn(rows, inFeatures), randn(2, rows, 3, inFeatures) })
        {
            var y = set.TryForward(x, weight, bias);
            Assert.NotNull(y);
            var expected = nn.functional.linear(x, weight, bias);
            Assert.Equal(expected.shape, y!.shape);
            double diff = (y - expected).abs().max().item<float>();
            Assert.True(diff < 1e-5, $"transposed product off by {diff}");
        }
        Assert.Equal(1, set.Count);                        // one copy per weight, reused by every call
        var other = randn(outFeatures, inFeatures) * 0.02; // another weight gets its own copy
        var x2 = randn(rows, inFeatures);
        Assert.True((set.TryForward(x2, other, bias)! - nn.functional.linear(x2, other, bias)).abs().max().item<float>() < 1e-5);
        Assert.Equal(2, set.Count);
    }

    [Fact]
    public void OtherProductsGoTheUsualWay()
    {
        using var scope = NewDisposeScope();
        var weight = randn(64, 32);
        using var set = new TransposedWeights();
        using (no_grad())
        {
            Assert.NotNull(set.TryForward(randn(TransposedWeights.MinRows, 32), weight, null));  // the case it is for
            Assert.Null(set.TryForward(randn(TransposedWeights.MinRows - 1, 32), weight, null)); // fewer rows: libtorch's is faster
            Assert.Null(set.TryForward(randn(1, 32), weight, null));                              // one row: SplitRowProduct's
            Assert.Null(set.TryForward(randn(1, 1, 32), weight, null));
            Assert.Null(set.TryForward(randn(16, 32, ScalarType.Float64), weight.to(ScalarType.Float64), null)); // float32 only
            using (MixedPrecision.Use(ScalarType.BFloat16)) Assert.Null(set.TryForward(randn(16, 32), weight, null));
        }
        Assert.Null(set.TryForward(randn(16, 32), weight, null));                                  // autograd on: training
        set.Dispose();
        using (no_grad()) Assert.Null(set.TryForward(randn(16, 32), weight, null));               // freed
        Assert.Throws<ObjectDisposedException>(() => set.Use());
    }

    [Fact]
    public void OpsLinearUsesTheSetOnlyInsideItsScope()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        manual_seed(6);
        var layer = new Ptm.Modeling.Linear(48, 40);
        var x = randn(16, 48);
        var usual = layer.forward(x);
        Assert.True(usual.eq(nn.functional.linear(x, layer.Weight, layer.Bias)).all().item<bool>());
        using var set = new TransposedWeights();
        Tensor inside;
        using (set.Use())
        {
            Assert.Same(set, TransposedWeights.Current);
            inside = layer.forward(x);
        }
        Assert.Null(TransposedWeights.Current);
        Assert.Equal(1, set.Count);
        Assert.True((inside - usual).abs().max().item<float>() < 1e-5);
        layer.forward(x);
        Assert.Equal(1, set.Count);
        // Another thread does not see this thread's set.
        TransposedWeights? seen = set;
        using (set.Use())
        {
            var thread = new Thread(() => seen = TransposedWeights.Current);
            thread.Start();
            thread.Join();
        }
        Assert.Null(seen);
    }

    /// <summary>A serving batch's decode step: 16 left-padded rows of different lengths (key mask and position ids), one
    /// new token each over a cache prefilled to the longest; inside the set the logits equal libtorch's products' to
    /// 1e-5 and every row's argmax is the same.</summary>
    [Fact]
    public void ABatchedDecodeStepWithRaggedRowsIsUnchanged()
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        manual_seed(7);
        var model = new Gpt(new GptConfig
        {
            VocabSize = 96, NPositions = 40, NEmbd = 64, NLayer = 2, NHead = 4, InitializerRange = 0.2,
            ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0,
        });
        model.eval();
        const int Rows = 16, Width = 24;
        var lengths = Enumerable.Range(0, Rows).Select(i => 1 + (i * 7) % Width).ToArray();   // 1 … 24 tokens, ragged
        var real = new bool[Rows * (Width + 1)];
        var positions = new long[Rows * Width];
        var last = new long[Rows];
        for (int b = 0; b < Rows; b++)
        {
            int pad = Width - lengths[b];
            for (int c = 0; c <= Width; c++) real[b * (Width + 1) + c] = c >= pad;
            for (int c = 0; c < Width; c++) positions[b * Width + c] = Math.Max(0, c - pad);
            last[b] = lengths[b];
        }
        var keyMask = tensor(real, [Rows, Width + 1]);
        var ids = randint(0, 96, [Rows, Width]);
        var next = randint(0, 96, [Rows, 1]);

        Tensor Step(bool transposed)
        {
            using var set = new TransposedWeights();
            using var products = transposed ? set.Use() : null;
            using var cache = model.NewCache(Rows);
            model.NextTokenLogits(ids, cache, tensor(positions, [Rows, Width]), keyMask.narrow(1, 0, Width)); // prefill (several rows)
            var logits = model.NextTokenLogits(next, cache, tensor(last, [Rows, 1]), keyMask);              // (16, V)
            if (transposed) Assert.Equal(2 * 4 + 1, set.Count);      // every product of both layers and the LM head
            return logits.clone();
        }
        var usual = Step(false);
        var fast = Step(true);
        double diff = (fast - usual).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"decode step logits off by {diff}");
        Assert.Equal(usual.argmax(-1).data<long>().ToArray(), fast.argmax(-1).data<long>().ToArray());
        Assert.True(usual.argmax(-1).unique().Item1.numel() > 3, "rows differ, so a mix-up would show");
    }
}
