using System.Text.Json;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tests.Cli;
using Ptm.Tests.Training;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

/// <summary>ELECTRA runs resume exactly, and the discriminator exports to Hugging Face's ElectraForPreTraining names
/// and reads back with identical outputs.</summary>
public class ElectraResumeExportTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-electra-rx-" + Guid.NewGuid().ToString("N"));

    public ElectraResumeExportTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        GC.SuppressFinalize(this);
    }

    // Dropout on, so the resumed run must also restore the random state the sampler and dropout draw from.
    static ElectraPretrainingOptions TinyRun(int steps) => new()
    {
        Bert = new BertPretrainingOptions
        {
            Model = new BertConfig { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 4, IntermediateSize = 64, MaxPositionEmbeddings = 32, HiddenDropoutProb = 0.1, AttentionProbsDropoutProb = 0.1 },
            Tokenizer = new TokenizerSpec { Kind = "wordpiece", VocabSize = 60 },
            Data = new BertDataSpec { MaxSeqLength = 32, DupeFactor = 2, MaxPredictionsPerSeq = 5, PairTask = "none" },
            Training = new TrainingConfig
            {
                BatchSize = 8, BlockSize = 32, MaxSteps = steps, LearningRate = 2e-3, MinLr = 2e-4, WarmupSteps = 2,
                EvalInterval = steps, EvalIters = 2, LogInterval = 1, CheckpointInterval = steps, Seed = 11,
            },
        },
    };

    string Corpus()
    {
        string file = Path.Combine(dir, "text.txt");
        File.WriteAllText(file, LibraryTrainingTests.Text(30));
        return file;
    }

    [Fact]
    public void ResumingAnInterruptedElectraRunEqualsAnUninterruptedOne()
    {
        string file = Corpus();
        IReadOnlyList<double> straight;
        Dictionary<string, Tensor> straightWeights;
        using (var run = Pretraining.Electra(PretrainingCorpus.FromPath(file), TinyRun(8), new RunFolder(Path.Combine(dir, "straight"))))
        {
            straight = run.Train().Losses;
            straightWeights = run.Model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        }

        string runDir = Path.Combine(dir, "interrupted");
        var losses = new List<double>();
        using (var run = Pretraining.Electra(PretrainingCorpus.FromPath(file), TinyRun(8), new RunFolder(runDir)))
        {
            using var cancel = new CancellationTokenSource();
            run.Trainer.StepCompleted += r => { if (r.Step == 3) cancel.Cancel(); };
            var result = run.Train(cancel.Token);
            Assert.Equal(TrainingOutcome.Interrupted, result.Outcome);
            losses.AddRange(result.Losses);
        }
        using (var resumed = Pretraining.ResumeElectra(runDir))
        {
            Assert.Equal(3, resumed.Trainer.Step);
            losses.AddRange(resumed.Train().Losses);
            Assert.Equal(straight, losses);
            // Generator included: every weight equals the uninterrupted run's.
            foreach (var (name, t) in resumed.Model.state_dict())
                Assert.True(t.eq(straightWeights[name]).all().item<bool>(), name);
        }
    }

    [Fact]
    public void PretrainElectraResumeContinuesARunFromTheCommandLine()
    {
        string corpus = Corpus();
        string config = Path.Combine(dir, "tiny-electra.json");
        File.WriteAllText(config, TinyBertFixture.TinyConfig.Replace("\"training\"", "\"electra\": { \"generator_size\": 0.5, \"rtd_weight\": 50 },\n  \"training\""));
        string run = Path.Combine(dir, "cli-run");
        var first = CliHarness.Run("pretrain", "electra", "--config", config, "--data", corpus, "--out", run, "--max-steps", "3");
        Assert.True(first.ExitCode == 0, first.Err + first.Out);
        var resumed = CliHarness.Run("pretrain", "electra", "--out", run, "--resume", "--max-steps", "5");
        Assert.True(resumed.ExitCode == 0, resumed.Err + resumed.Out);
        Assert.Matches(@"generator masked-word accuracy \d+\.\d %", resumed.Out);
        var steps = File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.TryGetProperty("step", out _) && e.TryGetProperty("lr", out _)).Select(e => e.GetProperty("step").GetInt32()).ToList();
        Assert.Equal(new[] { 1, 2, 3, 4, 5 }, steps.Distinct());
    }

    static readonly string[] LayerKeys =
    [
        "attention.self.query.weight", "attention.self.query.bias", "attention.self.key.weight", "attention.self.key.bias",
        "attention.self.value.weight", "attention.self.value.bias", "attention.output.dense.weight", "attention.output.dense.bias",
        "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias", "intermediate.dense.weight", "intermediate.dense.bias",
        "output.dense.weight", "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias",
    ];

    [Fact]
    public void TheDiscriminatorExportsUnderElectraForPreTrainingNamesAndReadsBackIdentically()
    {
        string file = Corpus();
        string runDir = Path.Combine(dir, "run");
        using var run = Pretraining.Electra(PretrainingCorpus.FromPath(file), TinyRun(3), new RunFolder(runDir));
        var result = run.Train();

        string hf = Path.Combine(dir, "hf");
        Assert.Equal("ElectraForPreTraining", HfCheckpoint.ExportFolder(runDir, hf));

        // Key names: HF's ElectraForPreTraining for one layer, nothing else (no generator, no pooler).
        string[] expected =
        [
            "electra.embeddings.word_embeddings.weight", "electra.embeddings.position_embeddings.weight",
            "electra.embeddings.token_type_embeddings.weight", "electra.embeddings.LayerNorm.weight", "electra.embeddings.LayerNorm.bias",
            .. LayerKeys.Select(k => "electra.encoder.layer.0." + k),
            "discriminator_predictions.dense.weight", "discriminator_predictions.dense.bias",
            "discriminator_predictions.dense_prediction.weight", "discriminator_predictions.dense_prediction.bias",
        ];
        using (var st = SafeTensorsFile.Open(Path.Combine(hf, "model.safetensors")))
            Assert.Equal(expected.Order(StringComparer.Ordinal), st.Names.Order(StringComparer.Ordinal));
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(hf, "config.json")));
        var c = config.RootElement;
        Assert.Equal("electra", c.GetProperty("model_type").GetString());
        Assert.Equal("ElectraForPreTraining", c.GetProperty("architectures")[0].GetString());
        Assert.Equal(32, c.GetProperty("embedding_size").GetInt32());
        Assert.Equal(32, c.GetProperty("hidden_size").GetInt32());
        Assert.Equal(60, c.GetProperty("vocab_size").GetInt32());
        Assert.True(File.Exists(Path.Combine(hf, "vocab.txt")));

        // Read back: the discriminator's replaced-token logits and encoder states are identical.
        var (back, tokenizer) = HfElectra.Load(hf);
        using (back)
        {
            Assert.Equal(run.WordPiece.Vocabulary, tokenizer.Vocabulary);
            run.Model.eval();
            manual_seed(5);
            var ids = randint(5, 60, [2, 12]);
            var inputs = new BertInputs(ids, zeros_like(ids), ones_like(ids));
            using var _ = no_grad();
            Assert.True(run.Model.Discriminate(inputs).eq(back.Discriminate(inputs)).all().item<bool>());
            Assert.True(run.Model.Discriminator.Bert.forward(inputs).Sequence.eq(back.Discriminator.Bert.forward(inputs).Sequence).all().item<bool>());
        }

        // A BERT folder has no ELECTRA head and is refused by the loader.
        Assert.Contains("model_type must be \"electra\"", Assert.Throws<InvalidInputException>(() => HfElectra.Load(result.Checkpoint!)).Message);
    }

    [Fact]
    public void ExportCommandWritesAnElectraFolder()
    {
        string file = Corpus();
        string runDir = Path.Combine(dir, "run");
        using (var run = Pretraining.Electra(PretrainingCorpus.FromPath(file), TinyRun(2), new RunFolder(runDir))) run.Train();
        var r = CliHarness.Run("export", "--model", runDir, "--to", Path.Combine(dir, "out"));
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Contains("(ElectraForPreTraining)", r.Out);
    }
}
