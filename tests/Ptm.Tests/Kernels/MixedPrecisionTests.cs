using Ptm.Tests.Modeling;
using Ptm.Kernels;
using Ptm.Modeling;
using Ptm.Tests.Training;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Kernels;

public class MixedPrecisionTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-bf16-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
    }

    [Fact]
    public void ProductsRunInBfloat16InsideTheScopeAndFloat32Outside()
    {
        using var scope = NewDisposeScope();
        manual_seed(1);
        var layer = new Ptm.Modeling.Linear(64, 32);
        var x = randn(4, 64);
        var exact = layer.forward(x);
        Tensor mixed;
        using (MixedPrecision.Use(ScalarType.BFloat16)) mixed = layer.forward(x);
        Assert.Null(MixedPrecision.Current);
        Assert.Equal(ScalarType.Float32, mixed.dtype);
        double diff = (mixed - exact).abs().max().item<float>();
        // bfloat16 keeps 8 significant bits: the product differs, but only at that precision.
        Assert.True(diff > 0, "the bfloat16 path should not be bit-identical to float32");
        Assert.True(diff < 0.05 * exact.abs().max().item<float>(), $"bfloat16 product off by {diff}");
        Assert.Equal(new[] { "weight", "bias" }, layer.state_dict().Keys.ToArray());
    }

    [Fact]
    public void GradientsReachTheFloat32MasterWeights()
    {
        manual_seed(2);
        var model = new Gpt(GptModelTests.Tiny());
        var idx = tensor(new long[] { 1, 2, 3, 4, 5, 6 }, 1, 6);
        using (MixedPrecision.Use(ScalarType.BFloat16)) Gpt.Loss(model.forward(idx), idx).backward();
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.True(p.grad is not null && p.grad.dtype == ScalarType.Float32, $"{name} has no float32 gradient");
        }
    }

    /// <summary>The bfloat16 loss curve follows the float32 one: the same 60 steps end within 3% of each other.</summary>
    [Fact]
    public void Bfloat16TrainingTracksFloat32()
    {
        var data = new SyntheticData(11, 8, 8);
        var config = new TrainingConfig
        {
            BatchSize = 8, BlockSize = 8, MaxSteps = 60, LearningRate = 3e-3, MinLr = 3e-4, WarmupSteps = 5,
            EvalInterval = 1000, EvalIters = 2, LogInterval = 1000, CheckpointInterval = 1000, Seed = 7,
        };
        var tokenizer = new CharTokenizer("abcdefghijk".Select(c => c.ToString()));
        var warned = new Dictionary<string, List<string>>();
        TrainingResult Run(string precision)
        {
            manual_seed(42);
            var model = new Gpt(GptModelTests.Tiny() with { NEmbd = 32, NHead = 4 });
            var trainer = new Trainer(new CausalLmObjective(model, tokenizer, data), config with { Precision = precision }, Path.Combine(dir, precision));
            warned[precision] = [];
            trainer.Warning += w => warned[precision].Add(w);
            var result = trainer.Run();
            Assert.Equal(warned[precision], trainer.Warnings);
            return result;
        }
        var fp32 = Run("float32");
        var bf16 = Run("bfloat16");
        // The one-time warning about bfloat16 without native bf16 dot products, exactly where this CPU lacks them.
        Assert.DoesNotContain(warned["float32"], w => w.Contains("training.precision"));
        Assert.Equal(CpuFeatures.HasBf16DotProduct ? 0 : 1, warned["bfloat16"].Count(w => w.Contains("training.precision")));
        Assert.NotEqual(fp32.Losses, bf16.Losses);
        Assert.True(fp32.Losses[^1] < 0.5 * fp32.Losses[0], "the float32 run should learn the pattern");
        for (int i = 0; i < fp32.Losses.Count; i += 10)
            Assert.True(Math.Abs(bf16.Losses[i] - fp32.Losses[i]) <= 0.03 * fp32.Losses[i] + 0.02,
                $"step {i + 1}: bfloat16 loss {bf16.Losses[i]:F4} vs float32 {fp32.Losses[i]:F4}");
        Assert.True(Math.Abs(bf16.LastEval!.Loss - fp32.LastEval!.Loss) <= 0.03 * fp32.LastEval.Loss + 0.02);
    }

    /// <summary>training.precision against a CPU with and without native bfloat16 dot products.</summary>
    [Theory]
    [InlineData("float32", true, false, false)]
    [InlineData("float32", false, false, false)]
    [InlineData("bfloat16", true, true, false)]
    [InlineData("bfloat16", false, true, true)]
    [InlineData("auto", true, true, false)]
    [InlineData("auto", false, false, false)]
    public void PrecisionResolvesByTheCpusBfloat16Support(string precision, bool hasBf16, bool bf16Expected, bool warningExpected)
    {
        var (compute, warning) = MixedPrecision.Resolve(precision, hasBf16);
        Assert.Equal(bf16Expected ? ScalarType.BFloat16 : null, compute);
        Assert.Equal(warningExpected, warning is not null);
        if (warningExpected) Assert.Contains("no native bfloat16 dot products", warning);
        new TrainingConfig { Precision = precision }.Validate("cfg.json");
    }

    [Fact]
    public void UnknownPrecisionIsAConfigError()
    {
        var e = Assert.Throws<InvalidInputException>(() => new TrainingConfig { Precision = "fp8" }.Validate("cfg.json"));
        Assert.Contains("field 'precision'", e.Message);
    }
}
