using Ptm.Modeling;
using Ptm.Tests.Cli;
using Ptm.Tests.Training;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

/// <summary>ELECTRA: replaced-token labels, the loss, where gradients go, the sampler's reach, a tiny run and its
/// discriminator reloaded as a BERT model folder.</summary>
public class ElectraTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-electra-" + Guid.NewGuid().ToString("N"));

    public ElectraTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        GC.SuppressFinalize(this);
    }

    static readonly BertConfig Tiny = new()
    {
        VocabSize = 20, HiddenSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 32,
        MaxPositionEmbeddings = 16, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0,
    };

    [Fact]
    public void GeneratorIsAQuarterOfTheDiscriminatorAndReadsItsEmbeddingWidth()
    {
        var g = ElectraForPreTraining.GeneratorConfigFor(Tiny, 0.25);
        Assert.Equal((4, 1, 8, 16), (g.HiddenSize, g.NumAttentionHeads, g.IntermediateSize, g.EmbeddingWidth));
        using var model = new ElectraForPreTraining(Tiny);
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("electra.embeddings.word_embeddings.weight", names);
        Assert.Contains("electra.encoder.layer.1.attention.self.query.weight", names);
        Assert.Contains("discriminator_predictions.dense.weight", names);
        Assert.Contains("discriminator_predictions.dense_prediction.weight", names);
        Assert.Contains("generator.encoder.embedding_hidden_mapping_in.weight", names);
        Assert.Contains("generator.generator_predictions.LayerNorm.weight", names);
        Assert.Contains("generator.generator_lm_head.bias", names);
        Assert.DoesNotContain(names, n => n.StartsWith("cls.", StringComparison.Ordinal) || n.Contains("generator.embeddings", StringComparison.Ordinal));
        Assert.Throws<InvalidInputException>(() => ElectraForPreTraining.GeneratorConfigFor(Tiny, 0));
    }

    [Fact]
    public void ReplacedTokenLabelsAreExactAndASampleEqualToTheOriginalIsOriginal()
    {
        // Row 0 masks positions 1 and 3 (originals 8 and 9); row 1 masks position 1 (original 6) and is padded after 3 tokens.
        var ids = tensor(new long[] { 1, 4, 7, 4, 3, 1, 4, 3, 0, 0 }, 2, 5);
        var labels = tensor(new long[] { -100, 8, -100, 9, -100, -100, 6, -100, -100, -100 }, 2, 5);
        var sampled = tensor(new long[] { 8, 5, 11 }); // 8 equals the original; 5 and 11 replace
        var (corrupted, rtd) = ElectraForPreTraining.Corrupt(ids, labels, sampled);
        Assert.Equal(new long[] { 1, 8, 7, 5, 3, 1, 11, 3, 0, 0 }, corrupted.data<long>().ToArray());
        Assert.Equal(new float[] { 0, 0, 0, 1, 0, 0, 1, 0, 0, 0 }, rtd.data<float>().ToArray());

        // The RTD term is a mean over the 8 real tokens only: a huge logit on padding would dominate it otherwise.
        var rtdLogits = tensor(new float[] { 0.5f, -1, 2, 1.5f, 0, -0.5f, 3, 1, 100, 100 }, 2, 5);
        var output = new ElectraOutput(zeros(3, 20), tensor(new long[] { 8, 9, 6 }), corrupted, rtdLogits, rtd);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 0, 0 }, 2, 5);
        var (total, mlm, rtdLoss) = ElectraForPreTraining.Loss(output, mask, 50, maskedTotal: 3, tokenTotal: 8);
        double[] z = [0.5, -1, 2, 1.5, 0, -0.5, 3, 1];
        double[] y = [0, 0, 0, 1, 0, 0, 1, 0];
        double expected = z.Zip(y, (x, t) => Math.Max(x, 0) - x * t + Math.Log(1 + Math.Exp(-Math.Abs(x)))).Sum() / 8;
        Assert.Equal(Math.Log(20), mlm.item<float>(), 5);
        Assert.Equal(expected, rtdLoss.item<float>(), 5);
        Assert.Equal(Math.Log(20) + 50 * expected, total.item<float>(), 4);
    }

    static (BertInputs Inputs, Tensor Labels) RandomBatch(int seed)
    {
        var rng = new Random(seed);
        const int B = 3, T = 12;
        var ids = new long[B * T];
        var labels = new long[B * T];
        var attention = new long[B * T];
        for (int b = 0; b < B; b++)
        {
            int length = T - 3 * b; // rows of 12, 9 and 6 real tokens
            for (int t = 0; t < T; t++)
            {
                int i = b * T + t;
                labels[i] = -100;
                if (t >= length) continue; // padding id 0
                attention[i] = 1;
                ids[i] = rng.Next(5, 20);
                if (t > 0 && rng.NextDouble() < 0.3)
                {
                    labels[i] = ids[i];
                    ids[i] = 4; // [MASK]
                }
            }
        }
        return (new BertInputs(tensor(ids, B, T), zeros(B, T, ScalarType.Int64), tensor(attention, B, T)), tensor(labels, B, T));
    }

    [Fact]
    public void SamplesNeverChangeUnmaskedPositions()
    {
        manual_seed(3);
        using var model = new ElectraForPreTraining(Tiny);
        for (int seed = 0; seed < 5; seed++)
        {
            using var scope = NewDisposeScope();
            var (inputs, labels) = RandomBatch(seed);
            var output = model.Forward(inputs, labels);
            var unmasked = labels.eq(-100);
            Assert.True(output.Corrupted.masked_select(unmasked).eq(inputs.InputIds.masked_select(unmasked)).all().item<bool>());
            Assert.Equal(0, output.RtdLabels.masked_select(unmasked).sum().item<float>());
            Assert.Equal(labels.ne(-100).sum().item<long>(), output.GeneratorLogits.shape[0]);
            // Every masked position holds a vocabulary token, not the [MASK] placeholder left in place by accident.
            var atMasked = output.Corrupted.masked_select(unmasked.logical_not());
            Assert.True(atMasked.ge(0).logical_and(atMasked.lt(Tiny.VocabSize)).all().item<bool>());
            Assert.True(output.RtdLabels.masked_select(unmasked.logical_not()).eq(output.Corrupted.masked_select(unmasked.logical_not())
                .ne(labels.masked_select(unmasked.logical_not())).to(ScalarType.Float32)).all().item<bool>());
        }
    }

    static double GradNorm(ElectraForPreTraining model, string name)
    {
        var p = model.named_parameters().Single(p => p.name == name).parameter;
        return p.grad is null ? 0 : p.grad.norm().item<float>();
    }

    [Fact]
    public void SharedEmbeddingsLearnFromBothLossesAndTheGeneratorOnlyFromItsOwn()
    {
        manual_seed(5);
        using var model = new ElectraForPreTraining(Tiny);
        var (inputs, labels) = RandomBatch(1);
        long masked = labels.ne(-100).sum().item<long>(), tokens = inputs.AttentionMask.sum().item<long>();
        const string words = "electra.embeddings.word_embeddings.weight", positions = "electra.embeddings.position_embeddings.weight";

        manual_seed(9);
        var (_, mlm, _) = ElectraForPreTraining.Loss(model.Forward(inputs, labels), inputs.AttentionMask, 50, masked, tokens);
        mlm.backward(); // MLM only
        Assert.True(GradNorm(model, words) > 0);
        Assert.True(GradNorm(model, positions) > 0);
        Assert.True(GradNorm(model, "generator.encoder.layer.0.attention.self.query.weight") > 0);
        Assert.Equal(0, GradNorm(model, "discriminator_predictions.dense_prediction.weight"));
        Assert.Equal(0, GradNorm(model, "electra.encoder.layer.0.attention.self.query.weight"));

        model.zero_grad();
        manual_seed(9);
        var (_, _, rtd) = ElectraForPreTraining.Loss(model.Forward(inputs, labels), inputs.AttentionMask, 50, masked, tokens);
        rtd.backward(); // RTD only: nothing flows back through the sampling into the generator
        Assert.True(GradNorm(model, words) > 0);
        Assert.True(GradNorm(model, positions) > 0);
        Assert.True(GradNorm(model, "discriminator_predictions.dense_prediction.weight") > 0);
        Assert.True(GradNorm(model, "electra.encoder.layer.0.attention.self.query.weight") > 0);
        foreach (var (name, p) in model.named_parameters().Where(p => p.name.StartsWith("generator.", StringComparison.Ordinal)))
            Assert.True(p.grad is null || p.grad.abs().sum().item<float>() == 0, name);
    }

    static ElectraPretrainingOptions TinyRun(int steps) => new()
    {
        Bert = new BertPretrainingOptions
        {
            Model = new BertConfig { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 4, IntermediateSize = 64, MaxPositionEmbeddings = 32, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 },
            Tokenizer = new TokenizerSpec { Kind = "wordpiece", VocabSize = 60 },
            Data = new BertDataSpec { MaxSeqLength = 32, DupeFactor = 2, MaxPredictionsPerSeq = 5, PairTask = "none" },
            Training = new TrainingConfig
            {
                BatchSize = 8, BlockSize = 32, MaxSteps = steps, LearningRate = 2e-3, MinLr = 2e-4, WarmupSteps = 2,
                EvalInterval = steps, EvalIters = 2, LogInterval = 1, CheckpointInterval = steps, Seed = 11,
            },
        },
    };

    [Fact]
    public void ATinyRunLowersItsLossReproduciblyAndSavesADiscriminatorThatLoadsAsBert()
    {
        string file = Path.Combine(dir, "text.txt");
        File.WriteAllText(file, LibraryTrainingTests.Text(40));
        string runDir = Path.Combine(dir, "run");
        IReadOnlyList<double> losses;
        using (var run = Pretraining.Electra(PretrainingCorpus.FromPath(file), TinyRun(40), new RunFolder(runDir)))
        {
            var result = run.Train();
            losses = result.Losses;
            Assert.True(losses.TakeLast(5).Average() < 0.8 * losses.Take(5).Average(), string.Join(" ", losses.Select(l => l.ToString("F3"))));
            Assert.InRange(result.LastEval!.Metrics["rtd_acc"], 0.5, 1.0);
            Assert.InRange(result.LastEval.Metrics["replaced"], 0.001, 0.5);

            // The checkpoint is a BERT folder whose encoder is the discriminator's.
            using var loaded = LoadedModel.Load(runDir);
            Assert.NotNull(loaded.Bert);
            var saved = loaded.Bert!.state_dict();
            foreach (var (name, p) in run.Model.named_parameters().Where(p => p.name.StartsWith("electra.", StringComparison.Ordinal)))
                Assert.True(p.eq(saved["bert." + name["electra.".Length..]]).all().item<bool>(), name);
            var vectors = loaded.Embed(["the light was good"]);
            Assert.Single(vectors);

            // electra.safetensors holds the whole model under its own names and loads back into a fresh one.
            using var again = new ElectraForPreTraining(run.Model.Config);
            ModelFolder.LoadWeights(again, Path.Combine(result.Checkpoint!, ElectraObjective.ElectraWeightsFile));
            var original = run.Model.state_dict();
            foreach (var (name, t) in again.state_dict()) Assert.True(t.eq(original[name]).all().item<bool>(), name);
        }
        Assert.Contains("\"electra\"", File.ReadAllText(Path.Combine(runDir, RunFolder.RunFile)));

        using var second = Pretraining.Electra(PretrainingCorpus.FromPath(file), TinyRun(40));
        Assert.Equal(losses, second.Train().Losses);
    }

    [Fact]
    public void PretrainElectraCommandTrainsATinyConfigAndWritesALoadableBertFolder()
    {
        string corpus = Path.Combine(dir, "corpus.txt");
        File.WriteAllText(corpus, LibraryTrainingTests.Text(30));
        string config = Path.Combine(dir, "tiny-electra.json");
        File.WriteAllText(config, TinyBertFixture.TinyConfig.Replace("\"training\"", "\"electra\": { \"generator_size\": 0.5, \"rtd_weight\": 50 },\n  \"training\""));
        string run = Path.Combine(dir, "cli-run");
        var r = CliHarness.Run("pretrain", "electra", "--config", config, "--data", corpus, "--out", run);
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Matches(@"discriminator RTD accuracy \d+\.\d %", r.Out);
        Assert.Contains("generator hidden 8, 1 heads", r.Out);
        using var loaded = LoadedModel.Load(run);
        Assert.Equal(16, loaded.Bert!.Config.HiddenSize);

        var resume = CliHarness.Run("pretrain", "electra", "--out", run, "--resume");
        Assert.True(resume.ExitCode == 0, resume.Err + resume.Out); // nothing left to do: the run reached max_steps

        var bad = CliHarness.Run("pretrain", "electra", "--config", config, "--data", corpus, "--out", Path.Combine(dir, "bad"), "--set", "electra.rtd_weight=-1");
        CliHarness.AssertOneLineError(bad, "Electra.RtdWeight");
    }
}
