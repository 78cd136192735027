using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

/// <summary>
/// Our models loaded from HF-layout checkpoints against reference outputs computed independently in PyTorch
/// (float64, stored as float32) by tests/fixtures/hf/make_fixtures.py.
/// </summary>
public sealed class HfParityTests(ITestOutputHelper output)
{
    const double Fp32Tolerance = 1e-4;
    // bfloat16 keeps 8 mantissa bits (relative step 2⁻⁸ ≈ 0.4%); weights and every matmul round at that step.
    const double Bf16RelativeTolerance = 5e-2;

    static Tensor GptLogits(Gpt model, Tensor ids)
    {
        using var _ = no_grad();
        return model.forward(ids).to_type(ScalarType.Float32);
    }

    static (Tensor Hidden, Tensor Pooled, Tensor Probs) BertOutputs(BertForPreTraining model, Dictionary<string, Tensor> e)
    {
        using var _ = no_grad();
        var inputs = new BertInputs(e["input_ids"], e["token_type_ids"], e["attention_mask"]);
        var (hidden, pooled) = model.Bert.forward(inputs);
        var (mlm, _) = model.forward(inputs);
        return (hidden.to_type(ScalarType.Float32), pooled.to_type(ScalarType.Float32), mlm.to_type(ScalarType.Float32).softmax(-1));
    }

    [Fact]
    public void Gpt2_logits_match_the_reference_in_float32()
    {
        var e = HfFixtures.Expected("gpt2");
        var (model, config, report) = HfCheckpoint.LoadGpt(HfFixtures.Gpt2);
        double err = HfFixtures.MaxAbs(GptLogits(model, e["input_ids"]), e["logits"]);
        output.WriteLine($"GPT-2 fp32 logits max abs error {err:E2} (logits range ±{e["logits"].abs().max().item<float>():F2})");
        Assert.True(err < Fp32Tolerance, $"max abs error {err}");
        Assert.Equal(["lm_head.weight"], report.Tied);
        Assert.Equal(4, report.Ignored.Count);   // attn.bias and attn.masked_bias of two layers
        Assert.Empty(report.Missing);
        Assert.Equal("GPT2LMHeadModel", report.Architecture);
        Assert.True(config.Extra.ContainsKey("task_specific_params"));
    }

    [Fact]
    public void Gpt2_logits_match_the_reference_in_bfloat16()
    {
        var e = HfFixtures.Expected("gpt2");
        var (model, _, _) = HfCheckpoint.LoadGpt(HfFixtures.Gpt2, new HfLoadOptions { DType = ScalarType.BFloat16 });
        Assert.Equal(ScalarType.BFloat16, model.parameters().First().dtype);
        double err = HfFixtures.MaxAbs(GptLogits(model, e["input_ids"]), e["logits"]);
        double scale = e["logits"].abs().max().item<float>();
        output.WriteLine($"GPT-2 bf16 logits max abs error {err:E2}, relative to max |logit| {err / scale:E2}");
        Assert.True(err / scale < Bf16RelativeTolerance, $"relative error {err / scale}");
    }

    [Fact]
    public void Bert_hidden_states_pooled_output_and_mlm_probabilities_match_the_reference_in_float32()
    {
        var e = HfFixtures.Expected("bert");
        var (model, _, report) = HfCheckpoint.LoadBert(HfFixtures.Bert);
        var (hidden, pooled, probs) = BertOutputs(model, e);
        double h = HfFixtures.MaxAbs(hidden, e["last_hidden_state"]), p = HfFixtures.MaxAbs(pooled, e["pooler_output"]),
            m = HfFixtures.MaxAbs(probs, e["mlm_probs"]);
        output.WriteLine($"BERT fp32 max abs error: hidden {h:E2}, pooled {p:E2}, MLM probabilities {m:E2}");
        Assert.True(h < Fp32Tolerance && p < Fp32Tolerance && m < Fp32Tolerance, $"{h} {p} {m}");
        Assert.Equal(["bert.embeddings.position_ids"], report.Ignored);
        Assert.Equal(["cls.predictions.decoder.bias", "cls.predictions.decoder.weight"], report.Tied.Order());
    }

    [Fact]
    public void Bert_matches_the_reference_in_bfloat16()
    {
        var e = HfFixtures.Expected("bert");
        var (model, _, _) = HfCheckpoint.LoadBert(HfFixtures.Bert, new HfLoadOptions { DType = ScalarType.BFloat16 });
        var (hidden, pooled, probs) = BertOutputs(model, e);
        // Hidden states are LayerNorm outputs of order 1, pooled output and probabilities lie in [-1, 1] / [0, 1].
        double h = HfFixtures.MaxAbs(hidden, e["last_hidden_state"]) / e["last_hidden_state"].abs().max().item<float>();
        double p = HfFixtures.MaxAbs(pooled, e["pooler_output"]), m = HfFixtures.MaxAbs(probs, e["mlm_probs"]);
        output.WriteLine($"BERT bf16: hidden max abs error relative to max |h| {h:E2}, pooled max abs {p:E2}, MLM probabilities max abs {m:E2}");
        Assert.True(h < Bf16RelativeTolerance && p < Bf16RelativeTolerance && m < Bf16RelativeTolerance, $"{h} {p} {m}");
    }

    [Fact]
    public void Gpt2_round_trip_through_our_folder_and_back_to_hf_keeps_outputs_and_config_extras()
    {
        using var s = new HfFixtures.Scratch();
        var e = HfFixtures.Expected("gpt2");
        HfCheckpoint.Convert(HfFixtures.Gpt2, s["ours"]);
        var (ours, _) = ModelFolder.LoadGpt(s["ours"]);
        var reference = GptLogits(ours, e["input_ids"]);
        Assert.True(HfFixtures.MaxAbs(reference, e["logits"]) < Fp32Tolerance);

        HfCheckpoint.ExportFolder(s["ours"], s["hf"]);
        var (back, config, report) = HfCheckpoint.LoadGpt(s["hf"]);
        Assert.Equal(0, HfFixtures.MaxAbs(GptLogits(back, e["input_ids"]), reference));
        Assert.Empty(report.Tied);  // export omits the tied lm_head, as save_pretrained does
        Assert.True(config.Extra.ContainsKey("made_up_future_field"));
        Assert.Equal("GPT2LMHeadModel", config.Architectures.Single());
        using var file = SafeTensorsFile.Open(Path.Combine(s["hf"], "model.safetensors"));
        Assert.Equal([16L, 48L], file.GetInfo("transformer.h.0.attn.c_attn.weight").Shape);   // Conv1D (in, out)
        Assert.DoesNotContain("lm_head.weight", file.Names);
        foreach (var f in new[] { "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "config.json" })
            Assert.True(File.Exists(Path.Combine(s["hf"], f)), f);

        HfCheckpoint.Convert(s["hf"], s["ours2"]);
        var (again, _) = ModelFolder.LoadGpt(s["ours2"]);
        Assert.Equal(0, HfFixtures.MaxAbs(GptLogits(again, e["input_ids"]), reference));
    }

    [Fact]
    public void Bert_round_trip_through_our_folder_and_back_to_hf_keeps_outputs()
    {
        using var s = new HfFixtures.Scratch();
        var e = HfFixtures.Expected("bert");
        HfCheckpoint.Convert(HfFixtures.Bert, s["ours"]);
        var (ours, _) = ModelFolder.LoadBert(s["ours"]);
        var (h0, p0, m0) = BertOutputs(ours, e);
        HfCheckpoint.ExportFolder(s["ours"], s["hf"]);
        var (back, config, _) = HfCheckpoint.LoadBert(s["hf"]);
        var (h1, p1, m1) = BertOutputs(back, e);
        Assert.Equal(0, HfFixtures.MaxAbs(h0, h1));
        Assert.Equal(0, HfFixtures.MaxAbs(p0, p1));
        Assert.Equal(0, HfFixtures.MaxAbs(m0, m1));
        Assert.True(config.Extra.ContainsKey("made_up_future_field"));
        using var file = SafeTensorsFile.Open(Path.Combine(s["hf"], "model.safetensors"));
        Assert.DoesNotContain("cls.predictions.decoder.weight", file.Names);
        Assert.True(File.Exists(Path.Combine(s["hf"], "special_tokens_map.json")));
    }

    [Fact]
    public void A_bfloat16_convert_writes_bfloat16_weights_that_our_loader_reads()
    {
        using var s = new HfFixtures.Scratch();
        HfCheckpoint.Convert(HfFixtures.Gpt2, s["ours"], new HfLoadOptions { DType = ScalarType.BFloat16 });
        using (var file = SafeTensorsFile.Open(Path.Combine(s["ours"], "model.safetensors")))
            Assert.Equal("BF16", file.GetInfo("transformer.wte.weight").DType);
        var (model, _) = ModelFolder.LoadGpt(s["ours"]);
        var e = HfFixtures.Expected("gpt2");
        Assert.True(HfFixtures.MaxAbs(GptLogits(model, e["input_ids"]), e["logits"]) / e["logits"].abs().max().item<float>() < Bf16RelativeTolerance);
    }
}
