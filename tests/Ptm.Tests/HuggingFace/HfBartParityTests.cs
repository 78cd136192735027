using System.Text.Json;
using Ptm.Generation;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tokenization;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

/// <summary>
/// Our encoder–decoder loaded from BART / mBART checkpoints against reference outputs of torch.nn's Transformer layers
/// with the same weights (float64, stored as float32), written by tests/fixtures/hf/make_bart_fixtures.py.
/// </summary>
public sealed class HfBartParityTests(ITestOutputHelper output)
{
    const double Fp32Tolerance = 1e-4;

    static string Folder(string name) => Path.Combine(HfFixtures.Root, name);

    /// <summary>Encoder states, logits and greedy outputs of <paramref name="model"/> on the fixture's inputs.</summary>
    static (Tensor States, Tensor Logits, IReadOnlyList<int[]> Greedy) Run(BartForConditionalGeneration model, Dictionary<string, Tensor> e)
    {
        using var _ = no_grad();
        using var memory = model.Encode(e["input_ids"], e["attention_mask"]);
        var states = memory.States.clone();
        var logits = model.Decode(e["decoder_input_ids"], memory, null);
        using var decoder = new Seq2SeqStepDecoder(model, e["input_ids"], e["attention_mask"]);
        var greedy = StepSearches.Greedy(decoder, 6, model.Config.EosTokenId);
        return (states, logits, greedy);
    }

    void AssertMatches(BartForConditionalGeneration model, string name)
    {
        var e = HfFixtures.Expected(name);
        var (states, logits, greedy) = Run(model, e);
        double stateErr = HfFixtures.MaxAbs(states, e["encoder_states"]), logitErr = HfFixtures.MaxAbs(logits, e["logits"]);
        output.WriteLine($"{name}: encoder states max abs error {stateErr:E2}, logits {logitErr:E2} (range ±{e["logits"].abs().max().item<float>():F2})");
        Assert.True(stateErr < Fp32Tolerance, $"encoder states: max abs error {stateErr}");
        Assert.True(logitErr < Fp32Tolerance, $"logits: max abs error {logitErr}");
        var expected = e["greedy"];
        for (int b = 0; b < greedy.Count; b++)
            Assert.Equal(expected[b].data<long>().ToArray().TakeWhile(t => t >= 0).Select(t => (int)t).ToArray(), greedy[b]);
    }

    [Theory]
    [InlineData("bart")]
    [InlineData("mbart")]
    public void Outputs_match_the_torch_nn_reference(string name)
    {
        var (model, config, report) = HfCheckpoint.LoadBart(Folder(name));
        using (model)
        {
            AssertMatches(model, name);
            Assert.Empty(report.Missing);
            Assert.Empty(report.Unexpected);
            Assert.True(config.Extra.ContainsKey("made_up_future_field"));
            if (name == "bart")
            {
                Assert.False(model.Config.PreLayerNorm);
                Assert.Equal(["lm_head.weight", "model.encoder.embed_tokens.weight"], report.Tied.Order(StringComparer.Ordinal));
                Assert.Equal(["model.encoder.version"], report.Ignored);
            }
            else
            {
                Assert.True(model.Config.PreLayerNorm);                    // model_type "mbart"
                Assert.Empty(report.Tied);                                 // BartModel keys, no prefix, no LM head
            }
        }
    }

    /// <summary>
    /// Beam search over the BART fixture returns the best hypothesis (tokens, end token included, and score) that the
    /// script's plain beam search found on the torch.nn reference, for each of its settings (BEAM_SETTINGS there:
    /// num_beams, length_penalty, early_stopping, max_new_tokens). The fixture's bias towards &lt;/s&gt; makes some
    /// hypotheses end early, so the length penalty and the stopping rule decide the winners.
    /// </summary>
    [Theory]
    [InlineData(0, 3, 1.0, BeamStopping.Heuristic, 6)]
    [InlineData(1, 4, 2.0, BeamStopping.Never, 6)]
    [InlineData(2, 2, 0.5, BeamStopping.Early, 6)]
    [InlineData(3, 4, -1.0, BeamStopping.Heuristic, 6)]
    public void Beam_search_matches_the_reference_beam_search(int setting, int beams, double lengthPenalty, BeamStopping stopping, int maxNewTokens)
    {
        var e = HfFixtures.Expected("bart");
        var (model, _, _) = HfCheckpoint.LoadBart(Folder("bart"));
        using (model)
        {
            using var _ = no_grad();
            using var decoder = new Seq2SeqStepDecoder(model, e["input_ids"], e["attention_mask"]);
            var found = BeamSearch.Run(decoder, new BeamSearchOptions
            {
                NumBeams = beams, LengthPenalty = lengthPenalty, EarlyStopping = stopping, MaxNewTokens = maxNewTokens,
                EosTokenId = model.Config.EosTokenId, PadTokenId = model.Config.PadTokenId,
            });
            var expected = e[$"beam_{setting}"];
            var scores = e[$"beam_{setting}_score"].data<float>().ToArray();
            for (int b = 0; b < found.Count; b++)
            {
                int[] tokens = expected[b].data<long>().ToArray().TakeWhile(t => t >= 0).Select(t => (int)t).ToArray();
                output.WriteLine($"setting {setting}, source {b}: [{string.Join(", ", found[b][0].Tokens)}] score {found[b][0].Score:F5} (reference {scores[b]:F5})");
                Assert.Equal(tokens, found[b][0].Tokens);
                Assert.Equal(scores[b], found[b][0].Score, 1e-4);
            }
        }
    }

    [Theory]
    [InlineData("bart")]
    [InlineData("mbart")]
    public void Convert_then_export_round_trips_and_still_matches(string name)
    {
        using var scratch = new HfFixtures.Scratch();
        var report = HfCheckpoint.Convert(Folder(name), scratch["ptm"]);
        Assert.Equal(name == "bart" ? "BartForConditionalGeneration" : "MBartForConditionalGeneration", report.Architecture);
        var (converted, tokenizer) = ModelFolder.LoadBart(scratch["ptm"]);
        using (converted) AssertMatches(converted, name);
        Assert.Equal(["</s>", "<mask>", "<pad>", "<s>", "<unk>"], tokenizer.SpecialTokens.Order(StringComparer.Ordinal));

        string architecture = HfCheckpoint.ExportFolder(scratch["ptm"], scratch["hf"]);
        Assert.Equal(report.Architecture, architecture);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(scratch["hf"], "config.json")));
        Assert.Equal(name, config.RootElement.GetProperty("model_type").GetString());
        Assert.Equal(architecture, config.RootElement.GetProperty("architectures")[0].GetString());
        Assert.True(config.RootElement.TryGetProperty("made_up_future_field", out _));
        using var special = JsonDocument.Parse(File.ReadAllText(Path.Combine(scratch["hf"], "special_tokens_map.json")));
        Assert.Equal("<pad>", special.RootElement.GetProperty("pad_token").GetString());
        Assert.Equal("<mask>", special.RootElement.GetProperty("mask_token").GetString());
        using (var weights = SafeTensorsFile.Open(Path.Combine(scratch["hf"], "model.safetensors")))
        {
            Assert.Contains("model.shared.weight", weights.Names);
            Assert.Contains("final_logits_bias", weights.Names);
            Assert.DoesNotContain("lm_head.weight", weights.Names);
        }
        var (exported, _, _) = HfCheckpoint.LoadBart(scratch["hf"]);
        using (exported) AssertMatches(exported, name);
        Assert.Equal(tokenizer.Encode(" the thin hen"), ByteLevelBpeTokenizer.Load(scratch["hf"]).Encode(" the thin hen"));
    }

    [Fact]
    public void Inspect_counts_parameters_once()
    {
        var summary = ModelSummary.Read(Folder("bart"));
        var (model, _, _) = HfCheckpoint.LoadBart(Folder("bart"));
        using (model) Assert.Equal(model.ParameterCount(), summary.ParameterCount);
        Assert.Equal("bart", summary.ModelType);
        Assert.Equal("bpe", summary.TokenizerKind);
    }

    [Fact]
    public void An_untied_lm_head_is_refused()
    {
        using var scratch = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(Folder("bart"), scratch["untied"], t =>
        {
            t["lm_head.weight"] = t["lm_head.weight"] + 1;
            return t;
        });
        var e = Assert.Throws<InvalidInputException>(() => HfCheckpoint.LoadBart(dir));
        Assert.Contains("lm_head.weight", e.Message);
    }

    [Fact]
    public void Final_layer_norms_without_pre_ln_are_refused()
    {
        using var scratch = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(Folder("bart"), scratch["odd"], afterCopy: d =>
        {
            string path = Path.Combine(d, "config.json");
            File.WriteAllText(path, File.ReadAllText(path).Replace("\"add_final_layer_norm\": false", "\"add_final_layer_norm\": true"));
        });
        var e = Assert.Throws<InvalidInputException>(() => HfCheckpoint.LoadBart(dir));
        Assert.Contains("add_final_layer_norm", e.Message);
    }

    /// <summary>Our own folder: save, load, and every tensor and output is identical.</summary>
    [Fact]
    public void Save_then_load_is_identical()
    {
        using var scratch = new HfFixtures.Scratch();
        var tokenizer = ByteLevelBpeTokenizer.Load(Folder("bart"));
        manual_seed(5);
        using var model = new BartForConditionalGeneration(Modeling.BartModelTests.Tiny(preLn: true, vocab: tokenizer.VocabSize) with { PadTokenId = 1, EosTokenId = 2 });
        model.eval();
        using (no_grad()) model.state_dict()["final_logits_bias"].normal_();
        ModelFolder.SaveModel(scratch["m"], model, tokenizer);
        var (loaded, loadedTokenizer) = ModelFolder.LoadBart(scratch["m"]);
        using (loaded)
        {
            Assert.Equal(model.Config, loaded.Config with { Architectures = model.Config.Architectures });
            var a = model.state_dict();
            var b = loaded.state_dict();
            Assert.Equal(a.Keys.Order(), b.Keys.Order());
            foreach (var (k, t) in a) Assert.True(t.eq(b[k]).all().item<bool>(), k);
            using var _ = no_grad();
            var src = tensor(new long[,] { { 40, 41, 42, 2 } });
            var dec = tensor(new long[,] { { 2, 50, 51 } });
            Assert.True(model.forward(src, ones_like(src), dec).eq(loaded.forward(src, ones_like(src), dec)).all().item<bool>());
        }
        Assert.Equal(tokenizer.VocabSize, loadedTokenizer.VocabSize);
    }
}
