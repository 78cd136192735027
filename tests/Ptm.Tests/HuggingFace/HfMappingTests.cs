using System.Text.Json.Nodes;
using Ptm.HuggingFace;
using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

/// <summary>The other HF key layouts (derived from the fixtures by renaming tensors) and the checks around them.</summary>
public sealed class HfMappingTests
{
    static double GptError(string dir, HfLoadOptions? options = null)
    {
        var e = HfFixtures.Expected("gpt2");
        var (model, _, _) = HfCheckpoint.LoadGpt(dir, options);
        using var _ = no_grad();
        return HfFixtures.MaxAbs(model.forward(e["input_ids"]), e["logits"]);
    }

    static (double Hidden, double Probs) BertError(BertForPreTraining model)
    {
        var e = HfFixtures.Expected("bert");
        using var _ = no_grad();
        var inputs = new BertInputs(e["input_ids"], e["token_type_ids"], e["attention_mask"]);
        var (hidden, _) = model.Bert.forward(inputs);
        var (mlm, _) = model.forward(inputs);
        return (HfFixtures.MaxAbs(hidden, e["last_hidden_state"]), HfFixtures.MaxAbs(mlm.softmax(-1), e["mlm_probs"]));
    }

    [Fact]
    public void Gpt2Model_keys_without_prefix_and_without_lm_head_load()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"], t => HfFixtures.Rename(t, k =>
            k == "lm_head.weight" ? null : k.StartsWith("transformer.") ? k["transformer.".Length..] : k));
        Assert.True(GptError(dir) < 1e-4);
    }

    [Fact]
    public void An_lm_head_that_differs_from_wte_is_refused()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"], t => { t["lm_head.weight"] = t["lm_head.weight"] + 1; return t; });
        var ex = Assert.Throws<InvalidInputException>(() => HfCheckpoint.LoadGpt(dir));
        Assert.Contains("'lm_head.weight' differs from 'transformer.wte.weight'", ex.Message);
    }

    [Fact]
    public void BertModel_without_heads_needs_allow_missing_and_then_matches_the_encoder()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Bert, s["v"], t => HfFixtures.Rename(t, k =>
            k.StartsWith("cls.") ? null : k.StartsWith("bert.") ? k["bert.".Length..] : k));
        var ex = Assert.Throws<InvalidInputException>(() => HfCheckpoint.LoadBert(dir));
        Assert.Contains("cls.predictions.bias", ex.Message);
        Assert.Contains("HfLoadOptions.AllowMissing", ex.Message);
        var (model, _, report) = HfCheckpoint.LoadBert(dir, new HfLoadOptions { AllowMissing = true });
        Assert.Contains("cls.seq_relationship.weight", report.Missing);
        Assert.True(BertError(model).Hidden < 1e-4);
    }

    [Fact]
    public void Legacy_gamma_beta_layer_norm_names_load()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Bert, s["v"], t => HfFixtures.Rename(t, k =>
            k.EndsWith("LayerNorm.weight") ? k[..^"weight".Length] + "gamma" : k.EndsWith("LayerNorm.bias") ? k[..^"bias".Length] + "beta" : k));
        var (model, _, _) = HfCheckpoint.LoadBert(dir);
        var (h, p) = BertError(model);
        Assert.True(h < 1e-4 && p < 1e-4);
    }

    [Fact]
    public void BertForMaskedLM_lacks_only_the_nsp_head()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Bert, s["v"], t => HfFixtures.Rename(t, k => k.StartsWith("cls.seq_relationship") ? null : k));
        var (model, _, report) = HfCheckpoint.LoadBert(dir, new HfLoadOptions { AllowMissing = true });
        Assert.Equal(["cls.seq_relationship.bias", "cls.seq_relationship.weight"], report.Missing);
        Assert.True(BertError(model).Probs < 1e-4);
    }

    [Fact]
    public void BertForSequenceClassification_reports_the_classifier_as_unexpected()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Bert, s["v"], t =>
        {
            var r = HfFixtures.Rename(t, k => k.StartsWith("cls.") ? null : k);
            r["classifier.weight"] = zeros(3, 16);
            r["classifier.bias"] = zeros(3);
            return r;
        });
        var ex = Assert.Throws<InvalidInputException>(() => HfCheckpoint.LoadBert(dir, new HfLoadOptions { AllowMissing = true }));
        Assert.Contains("classifier.bias, classifier.weight", ex.Message);
        var (_, _, report) = HfCheckpoint.LoadBert(dir, new HfLoadOptions { AllowMissing = true, AllowUnexpected = true });
        Assert.Equal(["classifier.bias", "classifier.weight"], report.Unexpected.Order());
    }

    [Fact]
    public void Sharded_checkpoints_load()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"]);
        Dictionary<string, Tensor> all;
        using (var f = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors"))) all = f.LoadAll();
        File.Delete(Path.Combine(dir, "model.safetensors"));
        var first = all.Where(kv => kv.Key.Contains("h.1.")).ToList();
        var second = all.Except(first).ToList();
        SafeTensorsWriter.Write(Path.Combine(dir, "model-00001-of-00002.safetensors"), first);
        SafeTensorsWriter.Write(Path.Combine(dir, "model-00002-of-00002.safetensors"), second);
        var map = new JsonObject();
        foreach (var kv in first) map[kv.Key] = "model-00001-of-00002.safetensors";
        foreach (var kv in second) map[kv.Key] = "model-00002-of-00002.safetensors";
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        Assert.True(GptError(dir) < 1e-4);
    }

    [Theory]
    [InlineData("activation_function", "\"relu\"", "activation_function")]
    [InlineData("scale_attn_by_inverse_layer_idx", "true", "scale_attn_by_inverse_layer_idx")]
    [InlineData("model_type", "\"llama\"", "not supported")]
    public void Unsupported_gpt2_settings_are_refused(string field, string json, string mention)
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"], afterCopy: d =>
        {
            var config = JsonNode.Parse(File.ReadAllText(Path.Combine(d, "config.json")))!.AsObject();
            config[field] = JsonNode.Parse(json);
            File.WriteAllText(Path.Combine(d, "config.json"), config.ToJsonString());
        });
        var ex = Assert.Throws<InvalidInputException>(() => HfCheckpoint.Convert(dir, s["out"]));
        Assert.Contains(mention, ex.Message);
        Assert.False(Directory.Exists(s["out"]));
    }

    [Fact]
    public void Relative_position_embeddings_are_refused()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Bert, s["v"], afterCopy: d =>
            File.WriteAllText(Path.Combine(d, "config.json"), File.ReadAllText(Path.Combine(d, "config.json")).Replace("\"absolute\"", "\"relative_key\"")));
        var ex = Assert.Throws<InvalidInputException>(() => HfCheckpoint.LoadBert(dir));
        Assert.Contains("position_embedding_type", ex.Message);
    }
}
