using Ptm.Data;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tests.Training;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

/// <summary>
/// BERT's <c>pre_layer_norm</c> switch (Xiong et al. 2020): each layer computes x + Attn(LN(x)) and then
/// h + FFN(LN(h)) with the layer's own LayerNorms, and the encoder ends with <c>bert.encoder.LayerNorm</c>.
/// The reference below is written out with plain tensor arithmetic in float64, so a LayerNorm in the wrong place fails.
/// </summary>
public class BertPreLayerNormTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-preln-" + Guid.NewGuid().ToString("N"));

    public BertPreLayerNormTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        GC.SuppressFinalize(this);
    }

    static BertConfig Tiny(bool pre) => BertModelTests.Tiny() with { PreLayerNorm = pre };

    /// <summary>A float64 model whose every parameter is random (LayerNorm gains around 1, everything else around 0),
    /// so that LayerNorm gains and biases, and every dense bias, take part in the output.</summary>
    static BertForPreTraining RandomModel(BertConfig config, int seed)
    {
        manual_seed(seed);
        var model = new BertForPreTraining(config);
        model.to(ScalarType.Float64);
        model.eval();
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("LayerNorm.weight")) p.copy_(1 + 0.3 * randn_like(p));
            else p.copy_(0.3 * randn_like(p));
        }
        return model;
    }

    static BertInputs Inputs() => new(
        tensor(new long[] { 2, 7, 8, 9, 3, 0, 2, 5, 6, 11, 12, 3 }, 2, 6),
        tensor(new long[] { 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1 }, 2, 6),
        tensor(new long[] { 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1 }, 2, 6));

    /// <summary>The encoder layers and the final LayerNorm written out by hand from the state dict: returns each
    /// layer's output (the last after the final LayerNorm when pre-LN), like <see cref="BertModel.HiddenStates"/>.</summary>
    static List<Tensor> Reference(Dictionary<string, Tensor> sd, Tensor x, Tensor mask, BertConfig c, bool finalLayerNorm = true)
    {
        Tensor Ln(Tensor v, string p)
        {
            var mu = v.mean([-1L], keepdim: true);
            var variance = (v - mu).pow(2).mean([-1L], keepdim: true);
            return (v - mu) / (variance + c.LayerNormEps).sqrt() * sd[p + ".weight"] + sd[p + ".bias"];
        }
        Tensor Dense(Tensor v, string p) => v.matmul(sd[p + ".weight"].t()) + sd[p + ".bias"];
        long B = x.shape[0], T = x.shape[1], nh = c.NumAttentionHeads, hs = c.HiddenSize / nh;
        Tensor Heads(Tensor v) => v.view(B, T, nh, hs).permute(0, 2, 1, 3);                 // (B, nh, T, hs)
        Tensor Attn(Tensor v, string p)
        {
            var q = Heads(Dense(v, p + ".self.query"));
            var k = Heads(Dense(v, p + ".self.key"));
            var val = Heads(Dense(v, p + ".self.value"));
            var scores = q.matmul(k.transpose(-2, -1)) / Math.Sqrt(hs);                      // (B, nh, T, T)
            scores = scores.masked_fill(mask.eq(0).view(B, 1, 1, T), double.NegativeInfinity);
            var y = scores.softmax(-1).matmul(val).permute(0, 2, 1, 3).reshape(B, T, c.HiddenSize);
            return Dense(y, p + ".output.dense");
        }
        Tensor Ffn(Tensor v, string p)
        {
            var h = Dense(v, p + ".intermediate.dense");
            h = 0.5 * h * (1 + (h / Math.Sqrt(2)).erf());                                    // exact GELU
            return Dense(h, p + ".output.dense");
        }
        var states = new List<Tensor>();
        for (int i = 0; i < c.NumHiddenLayers; i++)
        {
            string p = $"bert.encoder.layer.{i}";
            if (c.PreLayerNorm)
            {
                var h = x + Attn(Ln(x, p + ".attention.output.LayerNorm"), p + ".attention");
                x = h + Ffn(Ln(h, p + ".output.LayerNorm"), p);
            }
            else
            {
                var h = Ln(x + Attn(x, p + ".attention"), p + ".attention.output.LayerNorm");
                x = Ln(h + Ffn(h, p), p + ".output.LayerNorm");
            }
            states.Add(x);
        }
        if (c.PreLayerNorm && finalLayerNorm) states[^1] = Ln(x, "bert.encoder.LayerNorm");
        return states;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void LayersMatchAHandWrittenFloat64Reference(bool pre)
    {
        using var scope = NewDisposeScope();
        var config = Tiny(pre);
        var model = RandomModel(config, 3);
        var sd = model.state_dict();
        var inputs = Inputs();
        using var _ = no_grad();
        var states = model.Bert.HiddenStates(inputs);
        var expected = Reference(sd, states[0], inputs.AttentionMask, config);
        var real = inputs.AttentionMask.to(ScalarType.Bool).unsqueeze(-1);                   // padding rows are not compared
        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            double diff = (states[i + 1] - expected[i]).masked_fill(real.logical_not(), 0).abs().max().item<double>();
            Assert.True(diff < 1e-10, $"layer {i} output differs from the reference by {diff}");
        }
        // The other placement of the LayerNorms is far off: the comparison above can fail.
        var other = Reference(sd, states[0], inputs.AttentionMask, config with { PreLayerNorm = !pre }, finalLayerNorm: pre); // a post-LN model has no final LayerNorm
        Assert.True((states[^1] - other[^1]).abs().max().item<double>() > 1e-2);
        // Pre-LN without the final LayerNorm is far off too.
        if (pre)
            Assert.True((states[^1] - Reference(sd, states[0], inputs.AttentionMask, config, finalLayerNorm: false)[^1]).abs().max().item<double>() > 1e-2);
    }

    [Fact]
    public void PreLayerNormAddsOnlyTheFinalLayerNormUnderTheEncoder()
    {
        using var post = RandomModel(Tiny(false), 1);
        using var pre = RandomModel(Tiny(true), 1);
        var extra = pre.state_dict().Keys.Except(post.state_dict().Keys).Order().ToArray();
        Assert.Equal(["bert.encoder.LayerNorm.bias", "bert.encoder.LayerNorm.weight"], extra);
        Assert.Empty(post.state_dict().Keys.Except(pre.state_dict().Keys));
        // Initialisation gives the new LayerNorm unit gain and zero bias, like every other one.
        manual_seed(1);
        using var fresh = new BertForPreTraining(Tiny(true));
        Assert.True(fresh.state_dict()["bert.encoder.LayerNorm.weight"].eq(1).all().item<bool>());
        Assert.True(fresh.state_dict()["bert.encoder.LayerNorm.bias"].eq(0).all().item<bool>());
    }

    [Fact]
    public void WholeModelGradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        var model = RandomModel(Tiny(true), 5);
        var inputs = Inputs();
        var labels = tensor(new long[] { -100, 8, -100, -100, 4, -100, -100, -100, 13, -100, -100, 14 }, 2, 6);
        var nsp = tensor(new long[] { 1, 0 });
        double Loss() { using var s = NewDisposeScope(); var (m, p) = model.forward(inputs); return BertForPreTraining.Loss(m, p, labels, nsp).Total.item<double>(); }
        model.zero_grad();
        var (ml, pl) = model.forward(inputs);
        BertForPreTraining.Loss(ml, pl, labels, nsp).Total.backward();
        int checkedLayerNorms = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            var flat = p.detach().view(-1);
            var grad = p.grad!.view(-1);
            foreach (long i in new[] { 0, flat.numel() / 2, flat.numel() - 1 })
            {
                double numeric = FiniteDifference.Central(flat, i, Loss), analytic = grad[i].item<double>();
                Assert.True(Math.Abs(numeric - analytic) <= 1e-7 + 1e-5 * Math.Abs(numeric), $"{name}[{i}]: {analytic} vs {numeric}");
            }
            if (name.Contains("LayerNorm")) checkedLayerNorms++;
        }
        Assert.Equal(2 + 2 * 2 * 2 + 2 + 2, checkedLayerNorms); // embeddings, two per layer, final, MLM transform
        Assert.True(model.state_dict()["bert.encoder.LayerNorm.weight"].grad!.abs().sum().item<double>() > 0);
    }

    [Fact]
    public void ModelFolderRoundTripKeepsTheFlagAndTheOutputs()
    {
        var tokenizer = WordPieceTokenizer.Train(LibraryTrainingTests.Text(5).Split('\n'), 60);
        var config = Tiny(true) with { VocabSize = tokenizer.VocabSize };
        using var model = RandomModel(config, 7);
        model.to(ScalarType.Float32);
        string folder = Path.Combine(dir, "model");
        ModelFolder.SaveModel(folder, model, tokenizer);
        Assert.Contains("\"pre_layer_norm\": true", File.ReadAllText(Path.Combine(folder, ModelFolder.ConfigFile)));
        Assert.True(ModelFolder.IsPtmFolder(folder));
        var (loaded, _) = ModelFolder.LoadBert(folder);
        using (loaded)
        {
            Assert.True(loaded.Config.PreLayerNorm);
            using var _ = no_grad();
            var inputs = Inputs();
            var (m0, p0) = model.forward(inputs);
            var (m1, p1) = loaded.forward(inputs);
            Assert.True(m0.equal(m1).all().item<bool>() && p0.equal(p1).all().item<bool>());
        }
        // Post-LN configs leave the field out (a run folder written before it existed resumes unchanged) and read back post-LN.
        string postJson = (config with { PreLayerNorm = false }).ToJson();
        Assert.DoesNotContain("pre_layer_norm", postJson);
        Assert.False(BertConfig.FromJson(System.Text.Json.JsonDocument.Parse(postJson).RootElement, "config.json").PreLayerNorm);

        // Export to Hugging Face is refused with the field named, in one line, and writes nothing.
        string hf = Path.Combine(dir, "hf");
        var e = Assert.Throws<InvalidInputException>(() => HfCheckpoint.ExportFolder(folder, hf));
        Assert.Equal($"{Path.Combine(folder, ModelFolder.ConfigFile)}: config field 'pre_layer_norm' is true: a pre-LayerNorm model has no Hugging Face BERT equivalent (its layers are post-LN only)", e.Message);
        Assert.False(Directory.Exists(hf));
        Assert.Contains("'pre_layer_norm'", Assert.Throws<InvalidInputException>(() => HfCheckpoint.Export(model, tokenizer, hf)).Message);
        Assert.False(Directory.Exists(hf));
        // A Ptm-only field: the Hugging Face reader refuses the folder as a Hugging Face one.
        Assert.Contains("'pre_layer_norm' is a Ptm setting", Assert.Throws<InvalidInputException>(() => HfConfig.Load(Path.Combine(folder, ModelFolder.ConfigFile))).Message);
    }

    [Fact]
    public void ElectraGeneratorInheritsTheSwitchAndItsExportIsRefused()
    {
        var config = Tiny(true);
        var generator = ElectraForPreTraining.GeneratorConfigFor(config, 0.5);
        Assert.True(generator.PreLayerNorm);
        manual_seed(2);
        using var electra = new ElectraForPreTraining(config, 0.5);
        var keys = electra.state_dict().Keys.Where(k => k.EndsWith("encoder.LayerNorm.weight")).Order().ToArray();
        Assert.Equal(2, keys.Length);                                                          // discriminator and generator
        using var scope = NewDisposeScope();
        var inputs = Inputs();
        var labels = tensor(new long[] { -100, 8, -100, -100, 4, -100, -100, -100, 13, -100, -100, 14 }, 2, 6);
        var output = electra.Forward(inputs, labels);
        Assert.Equal(new long[] { 4, config.VocabSize }, output.GeneratorLogits.shape);

        string folder = Path.Combine(dir, "electra");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, ModelFolder.ConfigFile), config.ToJson());
        File.WriteAllText(Path.Combine(folder, ElectraObjective.ElectraWeightsFile), "");
        var e = Assert.Throws<InvalidInputException>(() => HfElectra.Export(folder, Path.Combine(dir, "hf")));
        Assert.Contains("config field 'pre_layer_norm' is true: a pre-LayerNorm model has no Hugging Face ELECTRA equivalent", e.Message);
    }

    [Fact]
    public void CommandLineOverrideSetsTheSwitch()
    {
        string path = Path.Combine(Ptm.Tests.Data.DataFixtures.FindRepoRoot(), "configs", "bert-kjv.json");
        var root = RunConfigFile.ReadNode(path);
        Assert.False(BertRunConfig.FromNode(root, path).Model.PreLayerNorm);
        BertRunConfig.ApplyOverrides(root, ["model.pre_layer_norm=true"]);
        var config = BertRunConfig.FromNode(root, path);
        Assert.True(config.Model.PreLayerNorm);
        // The run's config (run.json) carries it, so a resumed run builds the same model.
        Assert.True(BertRunConfig.FromNode(config.ToNode(), "run.json").Model.PreLayerNorm);
        BertRunConfig.ApplyOverrides(root, ["model.pre_layer_norm=yes"]);
        Assert.Contains("pre_layer_norm", Assert.Throws<InvalidInputException>(() => BertRunConfig.FromNode(root, path)).Message);
    }

    [Fact]
    public void ATinyPreLayerNormPretrainingRunLowersItsLossAndSavesAPreLayerNormModel()
    {
        var options = new BertPretrainingOptions
        {
            Model = new BertConfig
            {
                HiddenSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 32,
                HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0, PreLayerNorm = true,
            },
            Tokenizer = new TokenizerSpec { Kind = "wordpiece", VocabSize = 60 },
            Data = new BertDataSpec { MaxSeqLength = 32, DupeFactor = 1, MaxPredictionsPerSeq = 4, PairTask = "none" },
            // No warm-up: pre-LN is meant to train without it.
            Training = new TrainingConfig
            {
                BatchSize = 4, MaxSteps = 30, LearningRate = 1e-2, MinLr = 1e-3, WarmupSteps = 0, EvalInterval = 1000,
                EvalIters = 1, LogInterval = 1, CheckpointInterval = 1000, Seed = 7,
            },
        };
        string runDir = Path.Combine(dir, "run");
        IReadOnlyList<double> losses;
        using (var run = Pretraining.Bert(PretrainingCorpus.FromText(LibraryTrainingTests.Text(30)), options, new RunFolder(runDir)))
        {
            Assert.True(run.Model.Config.PreLayerNorm);
            losses = run.Train().Losses;
        }
        Assert.Equal(30, losses.Count);
        double first = losses.Take(3).Average(), last = losses.TakeLast(3).Average();
        Assert.True(last < first - 0.5, $"loss went from {first} to {last}");
        var (saved, _) = ModelFolder.LoadBert(runDir);
        using (saved) Assert.True(saved.Config.PreLayerNorm);
    }
}
