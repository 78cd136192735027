using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

public class BertModelTests
{
    internal static BertConfig Tiny(double dropout = 0) => new()
    {
        VocabSize = 23, HiddenSize = 8, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 16,
        MaxPositionEmbeddings = 16, HiddenDropoutProb = dropout, AttentionProbsDropoutProb = dropout,
    };

    static BertForPreTraining NewModel(BertConfig config, int seed = 1)
    {
        manual_seed(seed);
        var m = new BertForPreTraining(config);
        m.eval();
        return m;
    }

    static BertInputs Inputs(long[,] ids, long[,]? types = null, long[,]? mask = null)
    {
        int b = ids.GetLength(0), t = ids.GetLength(1);
        var idT = tensor(ids.Cast<long>().ToArray(), b, t);
        return new BertInputs(idT,
            types is null ? zeros_like(idT) : tensor(types.Cast<long>().ToArray(), b, t),
            mask is null ? ones_like(idT) : tensor(mask.Cast<long>().ToArray(), b, t));
    }

    [Fact]
    public void ParameterNamesFollowHuggingFaceBertForPreTraining()
    {
        var names = NewModel(Tiny()).state_dict().Keys.ToHashSet();
        string[] expected =
        [
            "bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
            "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight", "bert.embeddings.LayerNorm.bias",
            "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.attention.self.key.bias",
            "bert.encoder.layer.0.attention.self.value.weight", "bert.encoder.layer.0.attention.output.dense.weight",
            "bert.encoder.layer.0.attention.output.LayerNorm.weight", "bert.encoder.layer.1.intermediate.dense.weight",
            "bert.encoder.layer.1.output.dense.bias", "bert.encoder.layer.1.output.LayerNorm.bias",
            "bert.pooler.dense.weight", "cls.predictions.bias", "cls.predictions.transform.dense.weight",
            "cls.predictions.transform.LayerNorm.weight", "cls.seq_relationship.weight", "cls.seq_relationship.bias",
        ];
        foreach (var n in expected) Assert.Contains(n, names);
        // 5 embedding tensors, 16 per layer, pooler 2, heads 7; the decoder is tied (no cls.predictions.decoder.weight).
        Assert.Equal(5 + 2 * 16 + 2 + 7, names.Count);
    }

    [Fact]
    public void PaddingDoesNotChangeTheOutputsOfRealTokens()
    {
        var model = NewModel(Tiny());
        using var _ = no_grad();
        var alone = model.Bert.forward(Inputs(new long[,] { { 2, 7, 8, 9, 3 } }, new long[,] { { 0, 0, 0, 1, 1 } }));
        var batch = model.Bert.forward(Inputs(
            new long[,] { { 2, 7, 8, 9, 3, 0, 0, 0 }, { 2, 5, 6, 11, 12, 13, 14, 3 } },
            new long[,] { { 0, 0, 0, 1, 1, 0, 0, 0 }, { 0, 0, 0, 0, 1, 1, 1, 1 } },
            new long[,] { { 1, 1, 1, 1, 1, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1, 1, 1 } }));
        var diff = (batch.Sequence[0, ..5] - alone.Sequence[0]).abs().max().item<float>();
        Assert.True(diff < 1e-5f, $"hidden states of real tokens changed by {diff} when padded");
        Assert.True((batch.Pooled[0] - alone.Pooled[0]).abs().max().item<float>() < 1e-5f);
        // Without the mask the padding would be attended to: the check above is not vacuous.
        var unmasked = model.Bert.forward(Inputs(new long[,] { { 2, 7, 8, 9, 3, 0, 0, 0 } }, new long[,] { { 0, 0, 0, 1, 1, 0, 0, 0 } }));
        Assert.True((unmasked.Sequence[0, ..5] - alone.Sequence[0]).abs().max().item<float>() > 1e-4f);
    }

    [Fact]
    public void EncoderLayerGradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var layer = new BertLayer(Tiny());
        layer.to(ScalarType.Float64);
        layer.eval();
        var x = randn(new long[] { 2, 5, 8 }, ScalarType.Float64).requires_grad_();
        var keep = tensor(new[] { true, true, true, false, false, true, true, true, true, true }, 2, 1, 1, 5);
        var w = randn(new long[] { 2, 5, 8 }, ScalarType.Float64);
        (layer.Forward(x, keep) * w).sum().backward();
        var analytic = x.grad!.clone();
        var xd = x.detach().clone();
        for (int n = 0; n < 20; n++)
        {
            long b = n % 2, t = n % 5, c = (n * 3) % 8;
            double original = xd[b, t, c].item<double>();
            double Eval(double v) { using var s = NewDisposeScope(); xd[b, t, c] = v; using var _ = no_grad(); return (layer.Forward(xd, keep) * w).sum().item<double>(); }
            double numeric = (Eval(original + 1e-6) - Eval(original - 1e-6)) / 2e-6;
            xd[b, t, c] = original;
            Assert.True(Math.Abs(numeric - analytic[b, t, c].item<double>()) < 1e-6, $"d/dx[{b},{t},{c}]: {analytic[b, t, c].item<double>()} vs {numeric}");
        }
        // Parameter gradients too, through the whole pre-training loss.
        var model = NewModel(Tiny());
        model.to(ScalarType.Float64);
        var inputs = Inputs(new long[,] { { 2, 7, 4, 9, 3, 10, 3 } }, new long[,] { { 0, 0, 0, 0, 0, 1, 1 } });
        var labels = tensor(new long[] { -100, -100, 8, -100, -100, 11, -100 }, 1, 7);
        var nsp = tensor(new long[] { 1 });
        double Loss() { using var s = NewDisposeScope(); var (m, p) = model.forward(inputs); return BertForPreTraining.Loss(m, p, labels, nsp).Total.item<double>(); }
        model.zero_grad();
        var (ml, pl) = model.forward(inputs);
        BertForPreTraining.Loss(ml, pl, labels, nsp).Total.backward();
        foreach (var (name, p) in model.named_parameters().Where((_, i) => i % 3 == 0))
        {
            var flat = p.detach().view(-1);
            long i = flat.numel() / 2;
            double numeric = FiniteDifference.Central(flat, i, Loss), analyticP = p.grad!.view(-1)[i].item<double>();
            Assert.True(Math.Abs(numeric - analyticP) <= 1e-6 + 1e-5 * Math.Abs(numeric), $"{name}: {analyticP} vs {numeric}");
        }
    }

    [Fact]
    public void MaskedPositionsOnlyForwardGivesTheSameLossAndGradients()
    {
        var model = NewModel(Tiny());
        var inputs = Inputs(new long[,] { { 2, 7, 4, 9, 3, 10, 3 }, { 2, 5, 6, 4, 3, 12, 3 } });
        var labels = tensor(new long[] { -100, 8, -100, -100, -100, 11, -100, -100, -100, 13, -100, -100, 14, -100 }, 2, 7);
        var nsp = tensor(new long[] { 1, 0 });
        var (full, pair) = model.forward(inputs);
        var fullLoss = BertForPreTraining.Loss(full, pair, labels, nsp).Total;
        fullLoss.backward();
        var fullGrad = model.state_dict()["bert.encoder.layer.0.attention.self.query.weight"].grad!.clone();
        model.zero_grad();
        var (picked, pickedLabels, pair2) = model.ForwardMasked(inputs, labels);
        Assert.Equal(new long[] { 4, 23 }, picked.shape);
        Assert.Equal(new long[] { 8, 11, 13, 14 }, pickedLabels.data<long>().ToArray());
        var maskedLoss = BertForPreTraining.Loss(picked, pair2, pickedLabels, nsp).Total;
        Assert.Equal(fullLoss.item<float>(), maskedLoss.item<float>(), 5);
        maskedLoss.backward();
        var grad = model.state_dict()["bert.encoder.layer.0.attention.self.query.weight"].grad!;
        // The two paths sum the head's gradient in different orders (and BLAS kernels), so they agree to float32
        // rounding of the gradient's scale, not bit for bit: 1e-5 of the largest element is about 80 ulps. (These
        // gradients are ~1e-6, so a fixed atol such as 1e-7 would accept a 5% error.)
        double scale = fullGrad.abs().max().item<float>(), diff = (grad - fullGrad).abs().max().item<float>();
        Assert.True(scale > 0 && diff <= 1e-5 * scale, $"gradients differ by {diff} (largest {scale})");
    }

    [Fact]
    public void TinyModelOverfitsOneBatch()
    {
        var model = NewModel(Tiny() with { HiddenSize = 32, NumAttentionHeads = 4, IntermediateSize = 64 });
        model.train();
        var inputs = Inputs(new long[,] { { 2, 4, 4, 9, 3, 10, 3 }, { 2, 7, 4, 6, 3, 11, 3 } }, new long[,] { { 0, 0, 0, 0, 0, 1, 1 }, { 0, 0, 0, 0, 0, 1, 1 } });
        var labels = tensor(new long[] { -100, 5, -100, 8, -100, 12, -100, -100, 13, -100, 14, -100, 15, -100 }, 2, 7);
        var nsp = tensor(new long[] { 1, 0 });
        var opt = optim.AdamW(model.parameters(), 3e-3, weight_decay: 0);
        double loss = double.NaN;
        for (int step = 0; step < 200; step++)
        {
            using var s = NewDisposeScope();
            opt.zero_grad();
            var (m, p) = model.forward(inputs);
            var l = BertForPreTraining.Loss(m, p, labels, nsp).Total;
            l.backward();
            opt.step();
            loss = l.item<float>();
        }
        Assert.True(loss < 0.05, $"loss after 200 steps on one batch was {loss}");
    }

    [Fact]
    public void AlbertSwitchesFactoriseEmbeddingsAndShareLayers()
    {
        var bert = NewModel(Tiny() with { NumHiddenLayers = 4 });
        var albert = NewModel(Tiny() with { NumHiddenLayers = 4, EmbeddingSize = 4, ShareLayers = true });
        var sd = albert.state_dict();
        Assert.Equal(new long[] { 23, 4 }, sd["bert.embeddings.word_embeddings.weight"].shape);
        Assert.Equal(new long[] { 8, 4 }, sd["bert.encoder.embedding_hidden_mapping_in.weight"].shape);
        Assert.Equal(new long[] { 4, 8 }, sd["cls.predictions.transform.dense.weight"].shape);
        Assert.DoesNotContain("bert.encoder.layer.1.attention.self.query.weight", sd.Keys);
        long perLayer = bert.state_dict().Where(kv => kv.Key.StartsWith("bert.encoder.layer.0.")).Sum(kv => kv.Value.numel());
        Assert.True(albert.parameters().Sum(p => p.numel()) < bert.parameters().Sum(p => p.numel()) - 3 * perLayer + 1);
        // The one shared layer is applied four times: the projected embeddings and then four distinct outputs.
        using var _ = no_grad();
        var states = albert.Bert.HiddenStates(Inputs(new long[,] { { 2, 7, 8, 3 } }));
        Assert.Equal(1 + 4, states.Count);
        Assert.Equal(8, states[0].shape[2]);
        Assert.False(states[4].allclose(states[1]));
    }

    [Fact]
    public void TooLongInputAndBadConfigAreClearErrors()
    {
        var model = NewModel(Tiny());
        var e = Assert.Throws<InvalidInputException>(() => model.Bert.forward(Inputs(new long[1, 17])));
        Assert.Contains("max_position_embeddings (16)", e.Message);
        var c = Assert.Throws<InvalidInputException>(() => new BertForPreTraining(Tiny() with { HiddenSize = 10, NumAttentionHeads = 4 }));
        Assert.Contains("hidden_size", c.Message);
    }
}
