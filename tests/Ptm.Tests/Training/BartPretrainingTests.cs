using System.Text.Json.Nodes;
using Ptm.Data;
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.Training;

public class BartPretrainingTests
{
    static readonly string[] Verses =
    [
        "In the beginning God created the heaven and the earth.\nAnd the earth was without form, and void.\nAnd God said, Let there be light: and there was light.",
        "And God saw the light, that it was good.\nAnd God called the light Day, and the darkness he called Night.\nAnd the evening and the morning were the first day.",
        "Am Anfang schuf Gott Himmel und Erde.\nUnd Gott sprach: Es werde Licht! und es ward Licht.\nUnd Gott sah, dass das Licht gut war.",
    ];

    static BartPretrainingOptions Tiny(int maxSteps = 6) => new()
    {
        Model = new BartConfig
        {
            DModel = 16, EncoderLayers = 1, DecoderLayers = 1, EncoderAttentionHeads = 2, DecoderAttentionHeads = 2,
            EncoderFfnDim = 32, DecoderFfnDim = 32, MaxPositionEmbeddings = 32, Dropout = 0.1,
        },
        Tokenizer = new TokenizerSpec { Kind = "bpe", VocabSize = 300 },
        Data = new BartDataSpec { MaxSeqLength = 24 },
        Training = new TrainingConfig
        {
            MaxSteps = maxSteps, BatchSize = 4, LearningRate = 3e-3, MinLr = 3e-4, WarmupSteps = 2, EvalInterval = 3, EvalIters = 1,
            LogInterval = 1, CheckpointInterval = 3, Seed = 5,
        },
    };

    static PretrainingCorpus Corpus() => PretrainingCorpus.FromTexts(Verses, ["And God made the firmament.\nUnd Gott machte die Feste."]);

    static string TempDir() => Path.Combine(Path.GetTempPath(), "ptm-bart-" + Guid.NewGuid().ToString("N"));

    /// <summary>The recipe end to end: the data has BART's specials and whole sentences per sequence; the loss falls on
    /// repeated text; the run folder loads with ModelFolder.LoadBart with the trained weights, and fine-tunes.</summary>
    [Fact]
    public void PretrainedRunFolderLoadsAsBartAndFineTunes()
    {
        string dir = TempDir();
        try
        {
            var options = Tiny(maxSteps: 30) with { Training = Tiny().Training with { MaxSteps = 30, EvalInterval = 30, CheckpointInterval = 30 } };
            using (var run = Pretraining.Bart(Corpus(), options, new RunFolder(dir)))
            {
                Assert.Equal(0, run.Model.Config.BosTokenId);
                Assert.Equal("<s>", run.Data.Tokenizer.TokenText(0));
                Assert.Equal("<mask>", run.Data.Tokenizer.TokenText(run.Model.Config.VocabSize - 1));
                Assert.All(run.Data.Train, s => Assert.True(s.Sum(x => x.Length) <= 22));
                var result = run.Train();
                Assert.True(result.Losses.Skip(25).Average() < result.Losses.Take(5).Average() - 0.5, string.Join(", ", result.Losses.Select(l => l.ToString("F2"))));
                var reconstructions = run.Denoising.Reconstruct(1);
                Assert.Equal("And God made the firmament.", reconstructions[0].Original);
                Assert.Contains("<mask>", reconstructions[0].Noised);

                var (loaded, tokenizer) = ModelFolder.LoadBart(dir);
                using (loaded)
                {
                    var mine = run.Model.state_dict();
                    foreach (var (name, t) in loaded.state_dict()) Assert.True(t.equal(mine[name]).all().item<bool>(), name);
                    Assert.Equal(run.Data.Tokenizer.Encode("Licht und light"), tokenizer.Encode("Licht und light"));
                    var losses = Seq2SeqFineTuning.Train(loaded, tokenizer, [new Seq2SeqExample(1, "Licht", "light"), new Seq2SeqExample(2, "Gott", "God")],
                        new Seq2SeqTrainingOptions { Epochs = 2, BatchSize = 2, LearningRate = 1e-3 });
                    Assert.Equal(2, losses.Count);
                    Assert.All(losses, l => Assert.True(double.IsFinite(l)));
                }
            }
            Assert.Equal("bart", JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "run.json")))!["model"]!["model_type"]!.GetValue<string>());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    /// <summary>3 steps, a resume and 3 more give the same weights as 6 steps in one go (batches and noise are pure
    /// functions of the step; dropout's generator is restored).</summary>
    [Fact]
    public void ResumeEqualsAnUninterruptedRun()
    {
        string straight = TempDir(), split = TempDir();
        try
        {
            using var a = Pretraining.Bart(Corpus(), Tiny(6), new RunFolder(straight));
            var lossesA = a.Train().Losses;
            using (var b = Pretraining.Bart(Corpus(), Tiny(3), new RunFolder(split))) b.Train();
            using var c = Pretraining.ResumeBart(split, Tiny(6));
            Assert.Equal(3, c.Trainer.Step);
            var lossesC = c.Train().Losses;
            Assert.Equal(lossesA.Skip(3), lossesC);
            var wa = a.Model.state_dict();
            foreach (var (name, t) in c.Model.state_dict()) Assert.True(t.equal(wa[name]).all().item<bool>(), name);
        }
        finally
        {
            foreach (string d in new[] { straight, split }) if (Directory.Exists(d)) Directory.Delete(d, true);
        }
    }

    /// <summary>A training micro-batch depends on its index only: two objectives over the same data agree, and the
    /// labels are the original sequence plus &lt;/s&gt; while the source starts with &lt;s&gt;.</summary>
    [Fact]
    public void BatchesArePureFunctionsOfTheirIndex()
    {
        using var run = Pretraining.Bart(Corpus(), Tiny());
        var data = run.Data;
        manual_seed(1);
        using var other = new BartForConditionalGeneration(run.Model.Config);
        var twin = new DenoisingObjective(other, data, run.RunConfig.Data.ToNoise(), 4, run.RunConfig.Data.Seed);
        foreach (long index in new long[] { 5, 0, 5, 17 })
        {
            var x = run.Denoising.TrainBatch(index);
            var y = twin.TrainBatch(index);
            Assert.Equal(x.Select(e => string.Join(",", e.Source) + "|" + string.Join(",", e.Labels)), y.Select(e => string.Join(",", e.Source) + "|" + string.Join(",", e.Labels)));
            Assert.All(x, e => { Assert.Equal(0, e.Source[0]); Assert.Equal(2, e.Source[^1]); Assert.Equal(2, e.Labels[^1]); });
        }
        var all = data.Train.Select(s => string.Join(",", s.SelectMany(t => t)) + ",2").ToHashSet();
        Assert.All(run.Denoising.TrainBatch(1), e => Assert.Contains(string.Join(",", e.Labels), all));
    }

    [Fact]
    public void ConfigErrorsNameTheField()
    {
        var root = JsonNode.Parse("""{"model": {"d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2, "decoder_attention_heads": 2, "max_position_embeddings": 32}, "data": {"max_seq_length": 64}}""")!.AsObject();
        var e = Assert.Throws<InvalidInputException>(() => BartRunConfig.FromNode(root, "bart.json"));
        Assert.Contains("'data.max_seq_length' (64) exceeds 'model.max_position_embeddings' (32)", e.Message);
        root["data"]!["max_seq_length"] = 32;
        root["data"]!["mask_ratio"] = 1.5;
        e = Assert.Throws<InvalidInputException>(() => BartRunConfig.FromNode(root, "bart.json"));
        Assert.Contains("bart.json: field 'data.mask_ratio' must be in [0, 1)", e.Message);
        root["data"]!["mask_ratio"] = 0.3;
        root["tokenizer"] = new JsonObject { ["kind"] = "wordpiece" };
        e = Assert.Throws<InvalidInputException>(() => BartRunConfig.FromNode(root, "bart.json"));
        Assert.Contains("'tokenizer.kind' must be \"bpe\"", e.Message);
    }

    [Fact]
    public void ShippedKjvConfigReads()
    {
        string path = Path.Combine(Ptm.Tests.Data.DataFixtures.FindRepoRoot(), "configs", "bart-kjv.json");
        var config = BartRunConfig.FromNode(RunConfigFile.ReadNode(path), path);
        Assert.Equal(0.3, config.Data.MaskRatio);
        Assert.Equal(3.0, config.Data.PoissonLambda);
        Assert.True(config.Data.PermuteSentences);
    }

    /// <summary>The de-en recipe adds learned positions to unscaled token embeddings: with √d_model scaling at
    /// init_std 0.09 the positions are a tenth of the sum, and both pre-training and translation were worse
    /// (docs/results.md).</summary>
    [Fact]
    public void ShippedDeEnConfigReads()
    {
        string path = Path.Combine(Ptm.Tests.Data.DataFixtures.FindRepoRoot(), "configs", "bart-de-en.json");
        var config = BartRunConfig.FromNode(RunConfigFile.ReadNode(path), path);
        Assert.False(config.Model.ScaleEmbedding);
        Assert.Equal(1.0, config.Model.EmbedScale);
        Assert.Equal(8000, config.Tokenizer.VocabSize);
        Assert.False(config.Data.PermuteSentences);
    }
}
