using System.Text.Json;
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tests.HuggingFace;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.Cli;

/// <summary>
/// A tiny encoder–decoder model folder, a string-reversal task (every four-letter string over "abc" → its letters
/// reversed and spaced, so each target has four words and BLEU's 4-grams exist) and one `ptm finetune --task seq2seq`
/// run from it, shared by the class.
/// </summary>
public sealed class Seq2SeqRunFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ptm-s2s-cli-" + Guid.NewGuid().ToString("N"));
    public string Pretrained => Path.Combine(Root, "pre");
    public string Train => Path.Combine(Root, "train.csv");
    public string Validation => Path.Combine(Root, "validation.jsonl");
    public string Run => Path.Combine(Root, "run");
    public List<(string Source, string Target)> Pairs { get; } = [];
    internal CliHarness.Result Finetune { get; }

    public Seq2SeqRunFixture()
    {
        Directory.CreateDirectory(Root);
        const string letters = "abc";
        foreach (char a in letters) foreach (char b in letters) foreach (char c in letters) foreach (char d in letters)
            Pairs.Add(($"{a}{b}{c}{d}", $"{d} {c} {b} {a}"));
        File.WriteAllText(Train, "source,target\n" + string.Concat(Pairs.Select(p => $"{p.Source},{p.Target}\n")));
        File.WriteAllText(Validation, string.Concat(Pairs.Select(p => JsonSerializer.Serialize(new { source = p.Source, target = p.Target }) + "\n")));
        var tokenizer = ByteLevelBpeTokenizer.Load(Path.Combine(HfFixtures.Root, "bart"));
        manual_seed(11);
        using var model = new BartForConditionalGeneration(new BartConfig
        {
            VocabSize = tokenizer.VocabSize, DModel = 32, EncoderLayers = 1, DecoderLayers = 1, EncoderAttentionHeads = 4,
            DecoderAttentionHeads = 4, EncoderFfnDim = 64, DecoderFfnDim = 64, MaxPositionEmbeddings = 12, Dropout = 0, InitStd = 0.2,
        });
        ModelFolder.SaveModel(Pretrained, model, tokenizer);
        Finetune = CliHarness.Run("finetune", "--task", "seq2seq", "--model", Pretrained, "--train", Train, "--validation", Validation,
            "--out", Run, "--epochs", "30", "--batch-size", "8", "--lr", "3e-3", "--weight-decay", "0", "--seed", "3");
    }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, true);
    }
}

/// <summary>`ptm finetune --task seq2seq`, then `ptm predict` and `ptm evaluate` on the run, and their one-line errors.</summary>
public class Seq2SeqCliTests(Seq2SeqRunFixture f) : IClassFixture<Seq2SeqRunFixture>
{
    [Fact]
    public void FinetuneWritesARunFolderThatLoadsAndKeepsTheBestEpoch()
    {
        Assert.True(f.Finetune.ExitCode == 0, f.Finetune.Err + f.Finetune.Out);
        Assert.True(File.Exists(Path.Combine(f.Run, "best", "config.json")));
        Assert.True(File.Exists(Path.Combine(f.Run, Seq2SeqRun.InfoFile)));
        var epochs = File.ReadAllLines(Path.Combine(f.Run, Seq2SeqRun.MetricsFile)).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(30, epochs.Count);
        var valLosses = epochs.Select(e => e.GetProperty("val_loss").GetDouble()).ToList();
        int best = valLosses.IndexOf(valLosses.Min()) + 1;
        using var info = JsonDocument.Parse(File.ReadAllText(Path.Combine(f.Run, Seq2SeqRun.InfoFile)));
        Assert.Equal(best, info.RootElement.GetProperty("best_epoch").GetInt32());
        Assert.Contains($"best      epoch {best}:", f.Finetune.Out);
        // The staging folder was renamed into place: nothing else was left beside the run.
        Assert.DoesNotContain(Directory.GetFileSystemEntries(f.Root), p => Path.GetFileName(p).StartsWith(".run", StringComparison.Ordinal));
        // The kept weights are those of the best epoch: their validation loss is the one logged for it.
        var (model, tokenizer) = ModelFolder.LoadBart(f.Run);
        using (model)
        {
            var pairs = f.Pairs.Select((p, i) => new Seq2SeqExample(i + 2, p.Source, p.Target)).ToList();
            double loss = Seq2SeqFineTuning.ValidationLoss(model, tokenizer, pairs, new Seq2SeqTrainingOptions { BatchSize = 8 });
            Assert.Equal(valLosses[best - 1], loss, 4);
        }
    }

    [Fact]
    public void BleuAsTheMetricAndWeightAveragingAreRecordedInTheRun()
    {
        string run = Path.Combine(f.Root, "bleu-run");
        var r = CliHarness.Run("finetune", "--task", "seq2seq", "--model", f.Pretrained, "--train", f.Train, "--validation", f.Validation,
            "--out", run, "--epochs", "4", "--batch-size", "8", "--lr", "3e-3", "--weight-decay", "0", "--seed", "3",
            "--metric-for-best-model", "bleu", "--average-last-epochs", "2");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        var bleus = File.ReadAllLines(Path.Combine(run, Seq2SeqRun.MetricsFile)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("val_bleu").GetDouble()).ToList();
        Assert.Equal(4, bleus.Count);
        using var info = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, Seq2SeqRun.InfoFile)));
        var root = info.RootElement;
        Assert.Equal("bleu", root.GetProperty("best_model_metric").GetString());
        Assert.Equal(bleus.IndexOf(bleus.Max()) + 1, root.GetProperty("best_epoch").GetInt32());
        var average = root.GetProperty("average");
        Assert.Equal(3, average.GetProperty("first_epoch").GetInt32());
        Assert.Equal(4, average.GetProperty("last_epoch").GetInt32());
        Assert.Equal(average.GetProperty("val_bleu").GetDouble() >= bleus.Max(), average.GetProperty("kept").GetBoolean());
        Assert.Contains("average   epochs 3-4: val loss", r.Out);
    }

    [Fact]
    public void PredictWritesEveryReversalAndEvaluateScoresBleuAndChrF100()
    {
        Assert.True(f.Finetune.ExitCode == 0, f.Finetune.Err + f.Finetune.Out);
        string output = Path.Combine(f.Root, "predictions.txt");
        var p = CliHarness.Run("predict", "--model", f.Run, "--input", f.Validation, "--output", output);
        Assert.True(p.ExitCode == 0, p.Err + p.Out);
        Assert.Equal(f.Pairs.Select(x => x.Target), File.ReadAllLines(output));

        // Beam search (4 beams) agrees with the library call, and on this task with greedy decoding.
        string beamOutput = Path.Combine(f.Root, "beam.jsonl");
        var b = CliHarness.Run("predict", "--model", f.Run, "--input", f.Train, "--output", beamOutput, "--num-beams", "4");
        Assert.True(b.ExitCode == 0, b.Err + b.Out);
        var lines = File.ReadAllLines(beamOutput).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        using (var loaded = LoadedModel.Load(f.Run))
        {
            var library = loaded.Translate(f.Pairs.Select(x => x.Source).ToList(), new Seq2SeqDecodingOptions { Beam = new Ptm.Generation.BeamSearchOptions { NumBeams = 4 } });
            Assert.Equal(library, lines.Select(l => l.GetProperty("prediction").GetString()!));
        }
        Assert.Equal(f.Pairs.Select(x => x.Target), lines.Select(l => l.GetProperty("gold").GetString()!));
        Assert.Equal(f.Pairs.Select(x => x.Target), lines.Select(l => l.GetProperty("prediction").GetString()!));

        string metrics = Path.Combine(f.Root, "metrics.json");
        var e = CliHarness.Run("evaluate", "--model", f.Run, "--input", f.Train, "--out", metrics, "--num-beams", "2", "--length-penalty", "0.5");
        Assert.True(e.ExitCode == 0, e.Err + e.Out);
        Assert.Contains("BLEU      100.00", e.Out);
        Assert.Contains("chrF      100.00", e.Out);
        Assert.Contains("beam search: 2 beams, length penalty 0.5", e.Out);
        using var json = JsonDocument.Parse(File.ReadAllText(metrics));
        Assert.Equal(100.0, json.RootElement.GetProperty("bleu").GetDouble(), 9);
        Assert.Equal(100.0, json.RootElement.GetProperty("chrf").GetDouble(), 9);
        Assert.Equal(2, json.RootElement.GetProperty("decoding").GetProperty("num_beams").GetInt32());
    }

    [Fact]
    public void EvaluateScoresWrongOutputsBelow100()
    {
        // The same file with every target changed: the model's outputs no longer match, so the score must drop.
        string wrong = Path.Combine(f.Root, "wrong.tsv");
        File.WriteAllText(wrong, "source\ttarget\n" + string.Concat(f.Pairs.Select(x => $"{x.Source}\t{string.Join(' ', x.Source.ToCharArray())}\n")));
        var e = CliHarness.Run("evaluate", "--model", f.Run, "--input", wrong, "--out", Path.Combine(f.Root, "wrong.json"));
        Assert.True(e.ExitCode == 0, e.Err + e.Out);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(f.Root, "wrong.json")));
        Assert.InRange(json.RootElement.GetProperty("bleu").GetDouble(), 0, 60);
    }

    [Fact]
    public void BadInputIsAOneLineErrorNamingTheFileOrField()
    {
        string noTarget = Path.Combine(f.Root, "no-target.csv");
        File.WriteAllText(noTarget, "source,english\nabc,c b a\n");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "seq2seq", "--model", f.Pretrained, "--train", noTarget,
            "--validation", f.Validation, "--out", Path.Combine(f.Root, "r1")), noTarget, "'target'");
        CliHarness.AssertOneLineError(CliHarness.Run("evaluate", "--model", f.Run, "--input", noTarget), noTarget, "'target'");
        Assert.False(Directory.Exists(Path.Combine(f.Root, "r1")));

        // A GPT folder is not an encoder-decoder model.
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "seq2seq", "--model", HfFixtures.Gpt2, "--train", f.Train,
            "--validation", f.Validation, "--out", Path.Combine(f.Root, "r2")), "config.json", "model_type", "gpt2");
        // An unknown model kind names the file and field.
        string t5 = Path.Combine(f.Root, "t5");
        Directory.CreateDirectory(t5);
        File.WriteAllText(Path.Combine(t5, "config.json"), "{\"model_type\": \"t5\"}");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "seq2seq", "--model", t5, "--train", f.Train,
            "--validation", f.Validation, "--out", Path.Combine(f.Root, "r3")), "config.json", "model_type", "t5");
        CliHarness.AssertOneLineError(CliHarness.Run("predict", "--model", t5, "--input", f.Train, "--output", Path.Combine(f.Root, "p.txt")), "t5");

        // Options name their flag; seq2seq-only flags are refused elsewhere; an existing run needs --force.
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "seq2seq", "--model", f.Pretrained, "--train", f.Train,
            "--validation", f.Validation, "--out", Path.Combine(f.Root, "r4"), "--label-smoothing", "1.5"), "--label-smoothing");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "seq2seq", "--model", f.Pretrained, "--train", f.Train,
            "--validation", f.Validation, "--out", Path.Combine(f.Root, "r4"), "--metric-for-best-model", "accuracy"), "--metric-for-best-model", "accuracy");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "seq2seq", "--model", f.Pretrained, "--train", f.Train,
            "--validation", f.Validation, "--out", Path.Combine(f.Root, "r4"), "--epochs", "2", "--average-last-epochs", "3"), "--average-last-epochs");
        Assert.False(Directory.Exists(Path.Combine(f.Root, "r4")));
        CliHarness.AssertOneLineError(CliHarness.Run("predict", "--model", f.Run, "--input", f.Train, "--output", Path.Combine(f.Root, "p.txt"),
            "--num-beams", "2", "--num-return-sequences", "2"), "--num-return-sequences");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "classify", "--model", HfFixtures.Gpt2, "--train", f.Train,
            "--out", Path.Combine(f.Root, "r5"), "--from-scratch"), "--from-scratch");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--task", "seq2seq", "--model", f.Pretrained, "--train", f.Train,
            "--validation", f.Validation, "--out", f.Run), f.Run, "already exists");
    }
}
