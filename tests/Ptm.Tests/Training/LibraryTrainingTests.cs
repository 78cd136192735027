using Ptm.Data;
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tests.FineTuning;
using Ptm.Tests.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.Training;

/// <summary>The library entry points for training: Trainer as a type of its own, the Pretraining recipes (in-memory
/// text, one-file corpora, run folders, resume) and FineTuner without a run folder.</summary>
public class LibraryTrainingTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-libtrain-" + Guid.NewGuid().ToString("N"));
    static readonly ITokenizer Tokenizer = new CharTokenizer("abcdefghijk".Select(c => c.ToString()));

    public LibraryTrainingTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
    }

    /// <summary>A text of <paramref name="paragraphs"/> paragraphs (blank lines between), a few short lines each, from a small vocabulary.</summary>
    public static string Text(int paragraphs)
    {
        string[] words = ["the", "light", "was", "good", "and", "god", "said", "let", "there", "be", "day", "night", "called", "earth", "heaven"];
        var rng = new Random(5);
        return string.Join("\n\n", Enumerable.Range(0, paragraphs).Select(_ =>
            string.Join("\n", Enumerable.Range(0, 3).Select(_ => string.Join(' ', Enumerable.Range(0, 8).Select(_ => words[rng.Next(words.Length)])) + ".")))) + "\n";
    }

    static TrainingConfig Config(int steps) => new()
    {
        BatchSize = 4, BlockSize = 8, MaxSteps = steps, LearningRate = 3e-3, MinLr = 3e-4, WarmupSteps = 2,
        EvalInterval = 1000, EvalIters = 2, LogInterval = 1, CheckpointInterval = 1000, Seed = 7,
    };

    static CausalLmObjective Objective(double dropout = 0)
    {
        manual_seed(42);
        return new CausalLmObjective(new Gpt(GptModelTests.Tiny(dropout: dropout)), Tokenizer, new SyntheticData(11, 4, 8));
    }

    static GptPretrainingOptions TinyGpt(int steps, int warmup = 2, double lr = 3e-3) => new()
    {
        Model = new GptConfig { NPositions = 16, NEmbd = 16, NLayer = 1, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 },
        Tokenizer = new TokenizerSpec { Kind = "char" },
        Training = Config(steps) with { BlockSize = 16, WarmupSteps = warmup, EvalIters = 1, LogInterval = 1, LearningRate = lr, MinLr = lr / 10 },
    };

    [Fact]
    public void ConfigOutOfRangeNamesTheProperty()
    {
        var e = Assert.Throws<InvalidOptionException>(() => new Trainer(Objective(), Config(0)));
        Assert.Equal(("TrainingConfig", "MaxSteps"), (e.OptionType, e.Property));
        Assert.Equal("TrainingConfig.MaxSteps must be a positive integer (got 0)", e.Message);
        Assert.Equal("GradClip", Assert.Throws<InvalidOptionException>(() => new Trainer(Objective(), Config(3) with { GradClip = -1 })).Property);
        // A config file keeps naming its JSON fields.
        Assert.Contains("field 'max_steps'", Assert.Throws<InvalidInputException>(() => Config(0).Validate("run.json")).Message);
    }

    [Fact]
    public void WarmUpLongerThanTheRunIsClippedAndReported()
    {
        using var trainer = new Trainer(Objective(), Config(5) with { WarmupSteps = 100 });
        Assert.Equal(5, trainer.Config.WarmupSteps);
        Assert.Contains("TrainingConfig.WarmupSteps (100) is longer than the run (MaxSteps 5)", Assert.Single(trainer.Warnings));
        var rates = new List<double>();
        trainer.StepCompleted += r => rates.Add(r.LearningRate);
        trainer.Run();
        Assert.Equal([3e-3 / 5, 2 * 3e-3 / 5, 3 * 3e-3 / 5, 4 * 3e-3 / 5, 3e-3], rates, new ToleranceComparer(1e-12));
        using var ok = new Trainer(Objective(), Config(5));
        Assert.Empty(ok.Warnings);
    }

    [Fact]
    public void WithoutARunFolderNothingIsWritten()
    {
        using var trainer = new Trainer(Objective(), Config(3) with { CheckpointInterval = 1 });
        var result = trainer.Run();
        Assert.Null(trainer.MetricsPath);
        Assert.Null(result.Checkpoint);
        Assert.Equal(3, result.Losses.Count);
        Assert.NotNull(result.LastEval);
    }

    [Fact]
    public void SeedDecidesDropout()
    {
        IReadOnlyList<double> Losses(long seed)
        {
            using var trainer = new Trainer(Objective(dropout: 0.3), Config(4) with { Seed = seed });
            return trainer.Run().Losses;
        }
        Assert.Equal(Losses(7), Losses(7));
        Assert.NotEqual(Losses(7), Losses(8));
    }

    [Fact]
    public void CancellationFinishesTheStepCheckpointsAndStops()
    {
        using var cancel = new CancellationTokenSource();
        using var trainer = new Trainer(Objective(), Config(10), Path.Combine(dir, "run"));
        trainer.StepCompleted += r => { if (r.Step == 3) cancel.Cancel(); };
        var result = trainer.Run(cancel.Token);
        Assert.Equal(TrainingOutcome.Interrupted, result.Outcome);
        Assert.Equal(3, result.Step);
        Assert.Equal(Checkpoints.Latest(Path.Combine(dir, "run")), result.Checkpoint);
        Assert.EndsWith("step-00000003", result.Checkpoint);
    }

    [Fact]
    public void ADisposedTrainerRefusesToRun()
    {
        var trainer = new Trainer(Objective(), Config(2));
        trainer.Dispose();
        trainer.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => trainer.Run());
    }

    [Fact]
    public void GptFromInMemoryTextLearnsAndMatchesTheGolden()
    {
        IReadOnlyList<double> losses;
        string data;
        using (var run = Pretraining.Gpt(PretrainingCorpus.FromText(Text(30)), TinyGpt(20, lr: 2e-2)))
        {
            data = run.DataDirectory;
            Assert.True(Directory.Exists(data));
            Assert.Null(run.RunDirectory);
            Assert.Equal(27, run.Manifest.Splits["train"].Documents); // one text, cut at blank lines, 10% held out
            Assert.Equal(3, run.Manifest.Splits["validation"].Documents);
            losses = run.Train().Losses;
        }
        Assert.False(Directory.Exists(data), "the temporary data folder goes with the run");
        Assert.True(losses[^1] < losses[0] - 0.5, $"loss went from {losses[0]} to {losses[^1]}");
        // Fixed seed: the same numbers on every run (tolerance for other CPUs' kernels).
        using var again = Pretraining.Gpt(PretrainingCorpus.FromText(Text(30)), TinyGpt(20, lr: 2e-2));
        Assert.Equal(losses, again.Train().Losses);
        Assert.Equal(GoldenFirst, losses[0], 3);
        Assert.Equal(GoldenLast, losses[^1], 3);
    }

    // Recorded on an AVX-512 CPU (Zen 4); three decimals leave room for other CPUs' kernels.
    const double GoldenFirst = 2.99987;
    const double GoldenLast = 2.30826;

    [Fact]
    public void ResumingAnInterruptedRunEqualsAnUninterruptedOne()
    {
        string file = Path.Combine(dir, "book.txt");
        File.WriteAllText(file, Text(30));
        IReadOnlyList<double> straight;
        using (var run = Pretraining.Gpt(PretrainingCorpus.FromPath(file), TinyGpt(10), new RunFolder(Path.Combine(dir, "straight"))))
            straight = run.Train().Losses;

        string runDir = Path.Combine(dir, "interrupted");
        var first = new List<double>();
        using (var run = Pretraining.Gpt(PretrainingCorpus.FromPath(file), TinyGpt(10), new RunFolder(runDir)))
        {
            using var cancel = new CancellationTokenSource();
            run.Trainer.StepCompleted += r => { if (r.Step == 4) cancel.Cancel(); };
            var result = run.Train(cancel.Token);
            Assert.Equal(TrainingOutcome.Interrupted, result.Outcome);
            first.AddRange(result.Losses);
        }
        Assert.True(File.Exists(Path.Combine(runDir, RunFolder.RunFile)));
        using (var resumed = Pretraining.ResumeGpt(runDir))
        {
            Assert.Equal(4, resumed.Trainer.Step);
            Assert.NotNull(resumed.ResumedFrom);
            first.AddRange(resumed.Train().Losses);
        }
        Assert.Equal(straight, first);
        // A new run cannot silently take over the folder.
        Assert.Contains("already exists", Assert.Throws<InvalidInputException>(() =>
            Pretraining.Gpt(PretrainingCorpus.FromPath(file), TinyGpt(10), new RunFolder(runDir))).Message);
    }

    [Fact]
    public void RunFoldersAreReplacedOnlyWhenAskedAndModelsCannotChangeOnResume()
    {
        string file = Path.Combine(dir, "book.txt");
        File.WriteAllText(file, Text(20));
        string other = Path.Combine(dir, "not-a-run");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "keep.txt"), "mine");
        Assert.Contains("not a Ptm run folder", Assert.Throws<InvalidInputException>(() =>
            Pretraining.Gpt(PretrainingCorpus.FromPath(file), TinyGpt(2), new RunFolder(other, RunFolderMode.Replace))).Message);
        Assert.True(File.Exists(Path.Combine(other, "keep.txt")));

        string runDir = Path.Combine(dir, "run");
        using (var run = Pretraining.Gpt(PretrainingCorpus.FromPath(file), TinyGpt(2), new RunFolder(runDir))) run.Train();
        using (var run = Pretraining.Gpt(PretrainingCorpus.FromPath(file), TinyGpt(3), new RunFolder(runDir, RunFolderMode.Replace)))
            Assert.Equal(3, run.Train().Step);
        // Replacing must never delete what the new run reads: its prepared data, or the model a fine-tuning starts from.
        string data = Path.Combine(runDir, RunFolder.DataFolder);
        Assert.Contains("lies inside the run folder", Assert.Throws<InvalidInputException>(() =>
            Pretraining.Gpt(PretrainingCorpus.FromPath(data), TinyGpt(2), new RunFolder(runDir, RunFolderMode.Replace))).Message);
        Assert.True(Directory.Exists(data));
        var examples = TaskData.Classification([("in the beginning", "a"), ("and god said", "b")]);
        Assert.Contains("holds the pre-trained model", Assert.Throws<InvalidInputException>(() =>
            new FineTuner(runDir, FineTuneTask.Classify).Run(examples, examples, runDir, replace: true)).Message);
        Assert.True(File.Exists(Path.Combine(runDir, RunFolder.RunFile)));
        var wider = Pretraining.ReadRunConfig(runDir);
        var options = GptPretrainingOptions.From(GptRunConfig.FromNode(wider, "run.json"), vocabSizeFromTokenizer: false);
        var e = Assert.Throws<InvalidInputException>(() => Pretraining.ResumeGpt(runDir, options with { Model = options.Model with { NEmbd = 32 } }));
        Assert.Contains("model settings cannot change on resume", e.Message);
        using var longer = Pretraining.ResumeGpt(runDir, options with { Training = options.Training with { MaxSteps = 5 } });
        Assert.Equal(3, longer.Trainer.Step);
        Assert.Equal(5, longer.Train().Step);
    }

    [Fact]
    public void OneFileCorpusPreparesForGpt()
    {
        string file = Path.Combine(dir, "one.txt");
        File.WriteAllText(file, Text(12));
        using var run = Pretraining.Gpt(PretrainingCorpus.FromPath(file), TinyGpt(1));
        Assert.Equal(11, run.Manifest.Splits["train"].Documents);
        Assert.Equal(1, run.Manifest.Splits["validation"].Documents);
        // One paragraph is cut into runs of lines instead.
        var corpus = PretrainingCorpus.FromText("a b c\nd e f\ng h i\nj k l\n").Load();
        Assert.Equal(3, corpus.Train.Count);
        Assert.Equal("a b c\nd e f\ng h i\nj k l\n", string.Concat(corpus.Train.Concat(corpus.Validation).OrderBy(d => d.Index).Select(d => d.Text)));
    }

    static BertPretrainingOptions TinyBert(string pairTask) => new()
    {
        Model = new BertConfig { HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 32, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0 },
        Tokenizer = new TokenizerSpec { Kind = "wordpiece", VocabSize = 60 },
        Data = new BertDataSpec { MaxSeqLength = 32, DupeFactor = 1, MaxPredictionsPerSeq = 4, PairTask = pairTask },
        Training = Config(2) with { BatchSize = 2, EvalIters = 1 },
    };

    [Fact]
    public void OneFileCorpusPreparesForBertWithNsp()
    {
        string file = Path.Combine(dir, "one.txt");
        File.WriteAllText(file, Text(30));
        using var run = Pretraining.Bert(PretrainingCorpus.FromPath(file), TinyBert("nsp"));
        Assert.Equal("mlm-nsp", run.Manifest.Objective);
        Assert.Equal(27, run.Manifest.Splits["train"].Documents);
        Assert.Equal(3, run.Manifest.Splits["validation"].Documents);
        var result = run.Train();
        Assert.True(result.LastEval!.Metrics.ContainsKey("pair_acc"));
    }

    [Fact]
    public void NspOnASingleLineSaysWhyAndWhichProperty()
    {
        var e = Assert.Throws<InvalidInputException>(() => Pretraining.Bert(
            PretrainingCorpus.FromTexts(["the light was good and god said let there be day."], ["and there was light."]), TinyBert("nsp")));
        Assert.StartsWith("train split: BertDataOptions.Task NSP needs at least 2 non-empty documents", e.Message);
        Assert.Contains("PairTask.None", e.Message);
        // Packed full sentences need no second document.
        using var packed = Pretraining.Bert(PretrainingCorpus.FromTexts(["the light was good and god said let there be day."], ["and there was light."]), TinyBert("none"));
        Assert.Equal("mlm", packed.Manifest.Objective);
    }

    [Fact]
    public void OptionsAreCheckedBeforeAnySlowWork()
    {
        var e = Assert.Throws<InvalidOptionException>(() => Pretraining.Gpt(PretrainingCorpus.FromText("x"), TinyGpt(5) with { Tokenizer = new TokenizerSpec { Kind = "words" } }));
        Assert.Equal(("GptPretrainingOptions", "Tokenizer.Kind"), (e.OptionType, e.Property));
        var block = Assert.Throws<InvalidOptionException>(() => Pretraining.Gpt(PretrainingCorpus.FromText("x"), TinyGpt(5) with { Training = Config(5) with { BlockSize = 64 } }));
        Assert.Equal("Training.BlockSize", block.Property);
        Assert.Equal("ValidationFraction", Assert.Throws<InvalidOptionException>(() => (PretrainingCorpus.FromText(Text(3)) with { ValidationFraction = 1 }).Load()).Property);
    }

    [Fact]
    public void FineTunerWithoutARunFolderKeepsTheBestEpochInMemoryLikeTheFolderDoes()
    {
        using var models = new FineTuningTestModels();
        var options = new FineTuningOptions { Epochs = 4, BatchSize = 4, LearningRate = 3e-3, Seed = 3 };
        var train = FineTuningTestModels.Sentiment();
        var validation = FineTuningTestModels.Sentiment();
        var inMemory = new FineTuner(models.BertDir, FineTuneTask.Pair, options).Run(train, validation);
        var onDisk = new FineTuner(models.BertDir, FineTuneTask.Pair, options).Run(train, validation, Path.Combine(dir, "ft"));
        Assert.Null(inMemory.BestDirectory);
        Assert.Equal(Path.Combine(dir, "ft", "best"), onDisk.BestDirectory);
        Assert.Equal(onDisk.Best, inMemory.Best);
        Assert.Equal(onDisk.BestStep, inMemory.BestStep);
        Assert.Equal("accuracy", inMemory.Metric);
        var a = inMemory.Model.Predict(inMemory.Model.Encode(validation, requireLabels: false));
        var b = FineTuneModel.Load(onDisk.BestDirectory!).Predict(onDisk.Model.Encode(validation, requireLabels: false));
        Assert.Equal(a.Select(p => p.Probabilities), b.Select(p => p.Probabilities), new ArrayTolerance(1e-5f));
    }

    [Fact]
    public void FineTuningOptionsNameTheirProperty()
    {
        using var models = new FineTuningTestModels();
        Assert.Equal("BatchSize", Assert.Throws<InvalidOptionException>(() => new FineTuner(models.BertDir, FineTuneTask.Classify, new FineTuningOptions { BatchSize = 0 })).Property);
        Assert.Equal("LearningRates", Assert.Throws<InvalidOptionException>(() =>
            new FineTuner(models.BertDir, FineTuneTask.Classify, new FineTuningOptions { LearningRate = 1e-3, LearningRates = [1e-3] })).Property);
    }

    sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(double obj) => 0;
    }

    sealed class ArrayTolerance(float tolerance) : IEqualityComparer<float[]>
    {
        public bool Equals(float[]? x, float[]? y) => x!.Length == y!.Length && x.Zip(y).All(p => Math.Abs(p.First - p.Second) <= tolerance);
        public int GetHashCode(float[] obj) => 0;
    }
}
