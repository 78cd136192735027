using Ptm.Generation;
using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

public class BartModelTests
{
    internal static BartConfig Tiny(bool preLn = false, string activation = "gelu", int vocab = 13) => new()
    {
        VocabSize = vocab, DModel = 8, EncoderLayers = 2, DecoderLayers = 2, EncoderAttentionHeads = 2, DecoderAttentionHeads = 2,
        EncoderFfnDim = 12, DecoderFfnDim = 16, MaxPositionEmbeddings = 16, Dropout = 0, AttentionDropout = 0, ActivationDropout = 0,
        NormalizeBefore = preLn, ActivationFunction = activation, ScaleEmbedding = true,
    };

    static BartForConditionalGeneration NewModel(BartConfig config, int seed = 1, bool float64 = true)
    {
        manual_seed(seed);
        var model = new BartForConditionalGeneration(config);
        if (float64) model.to(ScalarType.Float64);
        model.eval();
        // Non-zero biases and LayerNorm gains, so a mapping or sign mistake in any of them shows.
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.EndsWith(".bias") || name.Contains("layer_norm") || name.Contains("layernorm")) p.add_(randn_like(p) * 0.1);
        return model;
    }

    // Two sources, the second padded (pad = 1), and targets with an ignored position.
    static readonly long[,] Source = { { 5, 6, 7, 8, 2 }, { 9, 4, 2, 1, 1 } };
    static readonly long[,] SourceMask = { { 1, 1, 1, 1, 1 }, { 1, 1, 1, 0, 0 } };
    static readonly long[,] Labels = { { 4, 10, 11, 2 }, { 12, 2, -100, -100 } };

    [Fact]
    public void StateDictKeysAreHuggingFaceBartKeys()
    {
        using var post = NewModel(Tiny());
        using var pre = NewModel(Tiny(preLn: true));
        var keys = post.state_dict().Keys.ToHashSet();
        foreach (string k in new[]
        {
            "model.shared.weight", "model.encoder.embed_positions.weight", "model.encoder.layernorm_embedding.weight",
            "model.encoder.layers.1.self_attn.k_proj.weight", "model.encoder.layers.0.self_attn.out_proj.bias",
            "model.encoder.layers.0.self_attn_layer_norm.weight", "model.encoder.layers.0.fc1.weight", "model.encoder.layers.0.fc2.bias",
            "model.encoder.layers.0.final_layer_norm.bias", "model.decoder.layers.1.encoder_attn.q_proj.weight",
            "model.decoder.layers.0.encoder_attn_layer_norm.weight", "model.decoder.layers.0.self_attn.v_proj.bias",
            "model.decoder.embed_positions.weight", "model.decoder.layernorm_embedding.bias", "final_logits_bias",
        })
            Assert.Contains(k, keys);
        Assert.DoesNotContain(keys, k => k.StartsWith("lm_head") || k.Contains("embed_tokens") || k.EndsWith("layer_norm.weight") && !k.Contains("layers."));
        Assert.Equal(new long[] { 18, 8 }, post.state_dict()["model.encoder.embed_positions.weight"].shape); // max_position_embeddings + 2
        Assert.Equal(new long[] { 1, 13 }, post.state_dict()["final_logits_bias"].shape);
        var preKeys = pre.state_dict().Keys.ToHashSet();
        Assert.Contains("model.encoder.layer_norm.weight", preKeys);
        Assert.Contains("model.decoder.layer_norm.bias", preKeys);
        Assert.Equal(keys.Count + 4, preKeys.Count);
    }

    /// <summary>Central differences in float64 against autograd for a sample of elements of every parameter, through
    /// source padding, ignored labels and (one case) label smoothing.</summary>
    [Theory]
    [InlineData(false, "gelu", 0.0)]
    [InlineData(true, "relu", 0.1)]
    [InlineData(false, "gelu_new", 0.0)]
    public void FullModelGradientsMatchFiniteDifferences(bool preLn, string activation, double smoothing)
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(preLn, activation));
        var src = tensor(Source);
        var mask = tensor(SourceMask);
        var labels = tensor(Labels);
        var dec = model.ShiftTokensRight(labels);
        double LossValue() { using var s = NewDisposeScope(); using var _ = no_grad(); return BartForConditionalGeneration.Loss(model.forward(src, mask, dec), labels, smoothing).item<double>(); }

        model.zero_grad();
        BartForConditionalGeneration.Loss(model.forward(src, mask, dec), labels, smoothing).backward();
        var rng = new Random(3);
        int checkedCount = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            var grad = p.grad!.contiguous().view(-1);
            var flat = p.detach().view(-1);
            for (int n = 0; n < 2; n++)
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
                Assert.True(Math.Abs(numeric - analytic) <= 1e-7 + 1e-5 * Math.Abs(numeric), $"{name}[{i}]: autograd {analytic} vs finite difference {numeric}");
                checkedCount++;
            }
        }
        Assert.True(checkedCount >= 2 * 60, $"{checkedCount}");
    }

    /// <summary>d(sum(w ⊙ attn(x, memory)))/dx and /dmemory by autograd against central differences (float64), with a
    /// padded source row.</summary>
    [Fact]
    public void CrossAttentionGradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var attn = new CrossAttention(8, 2, 0.0);
        attn.to(ScalarType.Float64);
        attn.eval();
        var x = randn(new long[] { 2, 3, 8 }, ScalarType.Float64).requires_grad_();
        var memory = randn(new long[] { 2, 5, 8 }, ScalarType.Float64).requires_grad_();
        var sourceMask = tensor(SourceMask).to(ScalarType.Bool).view(2, 1, 1, 5);
        var w = randn(new long[] { 2, 3, 8 }, ScalarType.Float64);
        Tensor F(Tensor xi, Tensor mi) { var (k, v) = attn.KeysValues(mi); return (attn.forward(xi, k, v, sourceMask) * w).sum(); }
        F(x, memory).backward();
        foreach (var (input, grad) in new[] { (x, x.grad!.clone()), (memory, memory.grad!.clone()) })
        {
            var flat = input.detach().view(-1);
            for (long i = 0; i < flat.numel(); i += 3)
            {
                double original = flat[i].item<double>();
                const double eps = 1e-6;
                double Eval(double value) { using var s = NewDisposeScope(); using var _ = no_grad(); flat[i] = value; return F(x.detach(), memory.detach()).item<double>(); }
                double numeric = (Eval(original + eps) - Eval(original - eps)) / (2 * eps);
                using (no_grad()) flat[i] = original;
                double analytic = grad.view(-1)[i].item<double>();
                Assert.True(Math.Abs(numeric - analytic) <= 1e-7 + 1e-6 * Math.Abs(numeric), $"[{i}]: autograd {analytic} vs finite difference {numeric}");
            }
        }
        // Padded source positions get exactly zero gradient: the mask hides them.
        Assert.Equal(0.0, memory.grad![1, 3..].abs().sum().item<double>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void DecoderIsCausal(bool preLn)
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(preLn));
        using var _ = no_grad();
        var src = tensor(Source);
        var mask = tensor(SourceMask);
        var dec = tensor(new long[,] { { 2, 4, 10, 11, 5 }, { 2, 12, 3, 7, 8 } });
        var logits = model.forward(src, mask, dec);
        for (int j = 1; j < 5; j++)
        {
            var changed = dec.clone();
            changed[.., j] = (changed[.., j] + 1) % 13;
            var other = model.forward(src, mask, changed);
            Assert.True(other[.., ..j].allclose(logits[.., ..j], rtol: 0, atol: 1e-12), $"position {j} changed earlier logits");
            Assert.False(other[.., j].allclose(logits[.., j], rtol: 0, atol: 1e-6));
        }
    }

    /// <summary>More padding after a source (masked) changes nothing; a change of a real source token does.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SourcePaddingDoesNotChangeOutputs(bool preLn)
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(preLn));
        using var _ = no_grad();
        var dec = tensor(new long[,] { { 2, 12, 3 } });
        var shortSrc = tensor(new long[,] { { 9, 4, 2 } });
        var reference = model.forward(shortSrc, ones_like(shortSrc), dec);
        var padded = tensor(new long[,] { { 9, 4, 2, 1, 1, 1 } });
        var paddedMask = tensor(new long[,] { { 1, 1, 1, 0, 0, 0 } });
        Assert.True(model.forward(padded, paddedMask, dec).allclose(reference, rtol: 0, atol: 1e-12));
        // Different tokens under the padding: still the same.
        var junk = tensor(new long[,] { { 9, 4, 2, 7, 5, 12 } });
        Assert.True(model.forward(junk, paddedMask, dec).allclose(reference, rtol: 0, atol: 1e-12));
        // Without the mask the padding is read, and outputs change (the test can fail).
        Assert.False(model.forward(padded, ones_like(padded), dec).allclose(reference, rtol: 0, atol: 1e-6));
        // In a batch with a longer source, the same.
        var batch = tensor(new long[,] { { 9, 4, 2, 1, 1, 1 }, { 5, 6, 7, 8, 10, 2 } });
        var batchMask = tensor(new long[,] { { 1, 1, 1, 0, 0, 0 }, { 1, 1, 1, 1, 1, 1 } });
        var batchDec = tensor(new long[,] { { 2, 12, 3 }, { 2, 4, 4 } });
        Assert.True(model.forward(batch, batchMask, batchDec)[0].allclose(reference[0], rtol: 0, atol: 1e-12));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void CachedStepByStepDecodingEqualsTheFullForward(bool preLn)
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(preLn));
        using var _ = no_grad();
        var src = tensor(Source);
        var mask = tensor(SourceMask);
        var dec = tensor(new long[,] { { 2, 4, 10, 11, 5, 6 }, { 2, 12, 3, 7, 8, 9 } });
        var full = model.forward(src, mask, dec);                          // (2, 6, V)
        using var memory = model.Encode(src, mask);
        using var cache = model.NewCache(2);
        // A prefill of two positions, then one at a time.
        var parts = new List<Tensor> { model.Decode(dec[.., ..2], memory, cache) };
        for (int t = 2; t < 6; t++) parts.Add(model.Decode(dec[.., t..(t + 1)], memory, cache));
        Assert.Equal(6, cache.Length);
        var stepped = cat(parts, 1);
        Assert.True(stepped.allclose(full, rtol: 0, atol: 1e-12), $"max diff {(stepped - full).abs().max().item<double>()}");
    }

    /// <summary>Start, Step and Reorder (duplicating, dropping and swapping rows) give the log-probabilities of the full
    /// forward pass over each row's history.</summary>
    [Fact]
    public void StepDecoderMatchesTheFullForwardThroughReorders()
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(preLn: true));
        var src = tensor(Source);
        var mask = tensor(SourceMask);
        using var decoder = new Seq2SeqStepDecoder(model, src, mask, rowsPerSource: 2, capacity: 8);
        Assert.Equal(4, decoder.Rows);
        Assert.Equal(13, decoder.VocabSize);
        // Row r's source and decoder history, kept alongside to check each step against a full forward pass.
        var sourceOf = new List<int> { 0, 0, 1, 1 };
        var history = Enumerable.Range(0, 4).Select(_ => new List<long> { 2 }).ToList();
        void Check(Tensor logProbs)
        {
            using var s = NewDisposeScope();
            using var g = no_grad();
            for (int r = 0; r < sourceOf.Count; r++)
            {
                int b = sourceOf[r];
                var logits = model.forward(src[b..(b + 1)], mask[b..(b + 1)], tensor(history[r].ToArray()).view(1, -1));
                var expected = logits[0, -1].log_softmax(-1).to(ScalarType.Float32);
                Assert.True(logProbs[r].allclose(expected, rtol: 0, atol: 1e-5), $"row {r} after {history[r].Count} tokens");
            }
        }
        Check(decoder.Start());
        Assert.Equal(7, decoder.RemainingCapacity);
        long[][] steps = [[4, 5, 6, 7], [10, 11, 12, 3]];
        foreach (var tokens in steps)
        {
            for (int r = 0; r < 4; r++) history[r].Add(tokens[r]);
            Check(decoder.Step(tensor(tokens)));
        }
        long[] keep = [3, 0, 0, 2, 1];                                     // drop none, duplicate row 0, reorder, grow to 5 rows
        decoder.Reorder(tensor(keep));
        sourceOf = keep.Select(r => sourceOf[(int)r]).ToList();
        history = keep.Select(r => history[(int)r].ToList()).ToList();
        Assert.Equal(5, decoder.Rows);
        long[] next = [8, 9, 4, 5, 6];
        for (int r = 0; r < 5; r++) history[r].Add(next[r]);
        Check(decoder.Step(tensor(next)));
        decoder.Reorder(tensor(new long[] { 4 }));
        sourceOf = [sourceOf[4]];
        history = [history[4]];
        history[0].Add(12);
        Check(decoder.Step(tensor(new long[] { 12 })));
        Assert.Equal(3, decoder.RemainingCapacity);
    }

    /// <summary>Greedy search over the step decoder equals argmax decoding by repeated full forward passes.</summary>
    [Fact]
    public void GreedySearchEqualsArgmaxOfFullForwardPasses()
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny(), seed: 7);
        var src = tensor(Source);
        var mask = tensor(SourceMask);
        using var decoder = new Seq2SeqStepDecoder(model, src, mask);
        var outputs = StepSearches.Greedy(decoder, 6, model.Config.EosTokenId);
        using var _ = no_grad();
        for (int b = 0; b < 2; b++)
        {
            var ids = new List<long> { model.Config.DecoderStartTokenId };
            var expected = new List<int>();
            for (int t = 0; t < 6; t++)
            {
                long next = model.forward(src[b..(b + 1)], mask[b..(b + 1)], tensor(ids.ToArray()).view(1, -1))[0, -1].argmax().item<long>();
                if (next == model.Config.EosTokenId) break;
                expected.Add((int)next);
                ids.Add(next);
            }
            Assert.Equal(expected, outputs[b]);
        }
    }

    [Fact]
    public void ShiftTokensRightPrependsTheStartTokenAndPadsIgnoredLabels()
    {
        using var model = NewModel(Tiny());
        using var shifted = model.ShiftTokensRight(tensor(Labels));
        Assert.Equal(new long[] { 2, 4, 10, 11, 2, 12, 2, 1 }, shifted.data<long>().ToArray());
    }

    [Fact]
    public void SequencesLongerThanThePositionTablesAreRejected()
    {
        using var scope = NewDisposeScope();
        var model = NewModel(Tiny());
        var tooLong = ones(1, 17, ScalarType.Int64);
        var e = Assert.Throws<InvalidInputException>(() => model.forward(tooLong, ones_like(tooLong), ones(1, 2, ScalarType.Int64)));
        Assert.Contains("max_position_embeddings (16)", e.Message);
        Assert.Throws<InvalidInputException>(() => model.forward(ones(1, 2, ScalarType.Int64), ones(1, 2, ScalarType.Int64), tooLong));
    }
}
