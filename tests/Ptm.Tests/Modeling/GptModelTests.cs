using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

public class GptModelTests
{
    internal static GptConfig Tiny(bool preLn = true, double dropout = 0) => new()
    {
        VocabSize = 11, NPositions = 16, NEmbd = 8, NLayer = 2, NHead = 2,
        ResidPdrop = dropout, EmbdPdrop = dropout, AttnPdrop = dropout, PreLayerNorm = preLn,
    };

    static Gpt NewModel(GptConfig config, int seed = 1)
    {
        manual_seed(seed);
        return new Gpt(config);
    }

    /// <summary>Central differences in float64 against autograd for a sample of elements of every parameter.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void FullModelGradientsMatchFiniteDifferences(bool preLn)
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(preLn));
        model.to(ScalarType.Float64);
        model.eval();
        var idx = tensor(new long[] { 1, 5, 2, 9, 3, 3, 0, 10 }, 2, 4);
        var targets = tensor(new long[] { 5, 2, 9, 4, 3, 0, 10, 7 }, 2, 4);
        double LossValue() { using var s = NewDisposeScope(); using var _ = no_grad(); return Gpt.Loss(model.forward(idx), targets).item<double>(); }

        model.zero_grad();
        Gpt.Loss(model.forward(idx), targets).backward();
        var rng = new Random(3);
        int checkedCount = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            var grad = p.grad!.contiguous().view(-1);
            var flat = p.detach().view(-1);
            for (int n = 0; n < 3; n++)
            {
                long i = rng.NextInt64(flat.numel());
                double original = flat[i].item<double>();
                const double eps = 1e-6;
                using (no_grad()) flat[i] = original + eps;
                double up = LossValue();
                using (no_grad()) flat[i] = original - eps;
                double down = LossValue();
                using (no_grad()) flat[i] = original;
                double numeric = (up - down) / (2 * eps);
                double analytic = grad[i].item<double>();
                Assert.True(Math.Abs(numeric - analytic) <= 1e-6 + 1e-5 * Math.Abs(numeric), $"{name}[{i}]: autograd {analytic} vs finite difference {numeric}");
                checkedCount++;
            }
        }
        Assert.True(checkedCount >= 3 * 20);
    }

    /// <summary>d(sum(w ⊙ f(x)))/dx by autograd against central differences, for each building block in float64.</summary>
    [Theory]
    [InlineData("attention")]
    [InlineData("pre-ln block")]
    [InlineData("post-ln block")]
    public void BlockInputGradientsMatchFiniteDifferences(string kind)
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        TorchSharp.torch.nn.Module<Tensor, LayerKvCache?, Tensor?, Tensor> module = kind switch
        {
            "attention" => new CausalSelfAttention(Tiny()),
            "pre-ln block" => new GptBlock(Tiny(preLn: true)),
            _ => new GptBlock(Tiny(preLn: false)),
        };
        module.to(ScalarType.Float64);
        module.eval();
        var x = randn(new long[] { 2, 5, 8 }, ScalarType.Float64).requires_grad_();
        var w = randn(new long[] { 2, 5, 8 }, ScalarType.Float64);
        (module.forward(x, null, null) * w).sum().backward();
        var analytic = x.grad!.clone();
        var xd = x.detach().clone();
        for (int n = 0; n < 20; n++)
        {
            long b = n % 2, t = n % 5, c = (n * 3) % 8;
            double original = xd[b, t, c].item<double>();
            double Eval(double value) { using var s = NewDisposeScope(); xd[b, t, c] = value; using var _ = no_grad(); return (module.forward(xd, null, null) * w).sum().item<double>(); }
            double numeric = (Eval(original + 1e-6) - Eval(original - 1e-6)) / 2e-6;
            xd[b, t, c] = original;
            Assert.True(Math.Abs(numeric - analytic[b, t, c].item<double>()) < 1e-6, $"{kind} d/dx[{b},{t},{c}]: {analytic[b, t, c].item<double>()} vs {numeric}");
        }
    }

    [Fact]
    public void ChangingTokenTNeverChangesEarlierLogits()
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny());
        model.eval();
        var a = tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 1, 8);
        using var _ = no_grad();
        var baseLogits = model.forward(a);
        for (int t = 0; t < 8; t++)
        {
            var b = a.clone();
            b[0, t] = (b[0, t] + 3) % 11;
            var logits = model.forward(b);
            if (t > 0) Assert.True(logits[.., ..t].allclose(baseLogits[.., ..t], 0, 0), $"logits before {t} changed");
            Assert.False(logits[.., t].allclose(baseLogits[.., t]), $"logits at {t} should change");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CachedLogitsEqualFullForward(bool preLn)
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(preLn));
        model.eval();
        using var _ = no_grad();
        var idx = tensor(new long[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, 2, 10);
        var full = model.forward(idx);
        using var cache = model.NewCache(2);
        // A 4-token prefill, a 3-token chunk (exercises the offset mask), then single tokens.
        var pieces = new List<Tensor> { model.Forward(idx[.., ..4], cache), model.Forward(idx[.., 4..7], cache) };
        for (int t = 7; t < 10; t++) pieces.Add(model.Forward(idx[.., t..(t + 1)], cache));
        var cached = cat(pieces, 1);
        Assert.Equal(10, cache.Length);
        Assert.True((cached - full).abs().max().item<float>() < 1e-5f);
    }

    [Fact]
    public void TinyModelOverfitsOneBatch()
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny() with { NEmbd = 32, NHead = 4, VocabSize = 16 });
        var idx = randint(0, 16, new long[] { 4, 12 }, generator: new Generator(5));
        var targets = randint(0, 16, new long[] { 4, 12 }, generator: new Generator(6));
        var opt = optim.AdamW(model.parameters(), 3e-3, weight_decay: 0);
        double loss = double.NaN;
        for (int step = 0; step < 300; step++)
        {
            using var s = NewDisposeScope();
            opt.zero_grad();
            var l = Gpt.Loss(model.forward(idx), targets);
            l.backward();
            opt.step();
            loss = l.item<float>();
        }
        Assert.True(loss < 0.05, $"loss after 300 steps on one batch was {loss}");
    }

    [Fact]
    public void ParameterNamesFollowHuggingFaceGpt2()
    {
        var model = NewModel(Tiny());
        var names = model.state_dict().Keys.ToHashSet();
        string[] expected =
        [
            "transformer.wte.weight", "transformer.wpe.weight",
            "transformer.h.0.ln_1.weight", "transformer.h.0.ln_1.bias",
            "transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_attn.bias",
            "transformer.h.0.attn.c_proj.weight", "transformer.h.0.attn.c_proj.bias",
            "transformer.h.0.ln_2.weight", "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_proj.bias",
            "transformer.h.1.mlp.c_proj.weight", "transformer.ln_f.weight", "transformer.ln_f.bias",
        ];
        foreach (var n in expected) Assert.Contains(n, names);
        Assert.Equal(4 + 2 * 12, names.Count);
        Assert.False(NewModel(Tiny(preLn: false)).state_dict().ContainsKey("transformer.ln_f.weight"));
    }

    [Fact]
    public void InitialisationFollowsGpt2()
    {
        var config = Tiny() with { NEmbd = 64, NHead = 4, NLayer = 8, VocabSize = 500 };
        var model = NewModel(config);
        var sd = model.state_dict();
        double Std(string k) => sd[k].std().item<float>();
        Assert.InRange(Std("transformer.wte.weight"), 0.019, 0.021);
        Assert.InRange(Std("transformer.h.0.mlp.c_fc.weight"), 0.019, 0.021);
        double residual = 0.02 / Math.Sqrt(2 * 8);
        Assert.InRange(Std("transformer.h.0.mlp.c_proj.weight"), residual * 0.95, residual * 1.05);
        Assert.InRange(Std("transformer.h.3.attn.c_proj.weight"), residual * 0.93, residual * 1.07);
        Assert.Equal(0, sd["transformer.h.0.attn.c_attn.bias"].abs().sum().item<float>());
        Assert.Equal(1, sd["transformer.ln_f.weight"].mean().item<float>());
    }

    [Fact]
    public void ContextOverflowIsAClearError()
    {
        var model = NewModel(Tiny());
        var e = Assert.Throws<InvalidInputException>(() => model.forward(zeros(new long[] { 1, 17 }, ScalarType.Int64)));
        Assert.Contains("n_positions = 16", e.Message);
    }
}
