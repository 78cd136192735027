using System.Text.Json;
using Ptm.HuggingFace;
using Ptm.Tests.Cli;
using Ptm.Training;

namespace Ptm.Tests.FineTuning;

/// <summary>A tiny BPE GPT and a tiny BERT pre-trained once through the CLI, and small task files.</summary>
public sealed class FineTuningCliFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ptm-ftcli-" + Guid.NewGuid().ToString("N"));
    public string Gpt => Path.Combine(Root, "gpt");
    public string Bert => Path.Combine(Root, "bert");
    public string Train => Path.Combine(Root, "train.csv");
    public string Validation => Path.Combine(Root, "validation.csv");
    public string Choices => Path.Combine(Root, "choices.jsonl");
    public string Similarity => Path.Combine(Root, "similarity.tsv");

    const string GptConfig = """
        { "model": { "n_positions": 48, "n_embd": 16, "n_layer": 1, "n_head": 2, "resid_pdrop": 0, "embd_pdrop": 0, "attn_pdrop": 0 },
          "tokenizer": { "kind": "bpe", "vocab_size": 300 },
          "training": { "batch_size": 2, "block_size": 16, "max_steps": 2, "warmup_steps": 1, "eval_interval": 2, "eval_iters": 1, "log_interval": 1, "checkpoint_interval": 2 } }
        """;

    public FineTuningCliFixture()
    {
        string corpus = Path.Combine(Root, "corpus");
        Directory.CreateDirectory(corpus);
        string Doc(string s, int n) => string.Concat(Enumerable.Repeat(s + "\n", n));
        File.WriteAllText(Path.Combine(corpus, "train.txt"),
            Doc("In the beginning God created the heaven and the earth.", 6) + "\n\f\n" + Doc("And God said, Let there be light: and there was light.", 6)
            + "\n\f\n" + Doc("And the evening and the morning were the first day.", 6));
        File.WriteAllText(Path.Combine(corpus, "validation.txt"), Doc("And God saw the light, that it was good.", 4) + "\n\f\n" + Doc("And God called the light Day.", 4));
        File.WriteAllText(Path.Combine(Root, "gpt.json"), GptConfig);
        Pretrain("gpt", Path.Combine(Root, "gpt.json"), corpus, Gpt);
        File.WriteAllText(Path.Combine(Root, "bert.json"), TinyBertFixture.TinyConfig);
        Pretrain("bert", Path.Combine(Root, "bert.json"), corpus, Bert);

        string[] light = ["light", "day", "morning"], dark = ["darkness", "night", "evening"];
        string Row(int i) => i % 2 == 0 ? $"\"And there was {light[i % 3]}, and it was good.\",light\n" : $"\"And there was {dark[i % 3]}, and it was void.\",dark\n";
        File.WriteAllText(Train, "text,label\n" + string.Concat(Enumerable.Range(0, 24).Select(Row)));
        File.WriteAllText(Validation, "text,label\n" + string.Concat(Enumerable.Range(24, 6).Select(Row)));
        File.WriteAllText(Choices, string.Concat(Enumerable.Range(0, 12).Select(i => JsonSerializer.Serialize(new
        {
            text = "And God said, Let there be", choices = i % 2 == 0 ? new[] { "light", "night" } : ["night", "light"], label = i % 2,
        }) + "\n")));
        File.WriteAllText(Similarity, "text\ttext_pair\tlabel\n" + string.Concat(Enumerable.Range(0, 12).Select(i =>
            i % 2 == 0 ? "And there was light.\tAnd there was light.\t5\n" : "And there was light.\tThe evening.\t0\n")));
    }

    static void Pretrain(string family, string config, string corpus, string output)
    {
        var r = CliHarness.Run("pretrain", family, "--config", config, "--data", corpus, "--out", output, "--samples", "0");
        if (r.ExitCode != 0) throw new InvalidOperationException($"fixture {family} run failed: {r.Err}\n{r.Out}");
    }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, true);
    }
}

public class FineTuningCliTests(FineTuningCliFixture fx) : IClassFixture<FineTuningCliFixture>
{
    string Temp(string name) => Path.Combine(fx.Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    static CliHarness.Result Ok(params string[] args)
    {
        var r = CliHarness.Run(args);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Err}\n{r.Out}");
        return r;
    }

    [Fact]
    public void GptClassifierFinetunesEvaluatesAndPredicts()
    {
        string run = Temp("gpt-cls");
        var ft = Ok("finetune", "--model", fx.Gpt, "--task", "classify", "--train", fx.Train, "--validation", fx.Validation, "--out", run,
            "--epochs", "2", "--batch-size", "8", "--learning-rate", "0.003");
        Assert.Contains("GPT2ForSequenceClassification", ft.Out);
        Assert.Contains("lm_coef 0.5", ft.Out);
        Assert.Contains("2 epochs = 6 steps of 8", ft.Out);
        Assert.Matches(@"validation loss \d+\.\d+  accuracy \d\.\d+", ft.Out);
        var metrics = File.ReadAllLines(Path.Combine(run, "metrics.jsonl"));
        Assert.Contains(metrics, l => l.Contains("\"val_accuracy\""));
        Assert.Contains(metrics, l => l.Contains("\"lm_loss\"") && l.Contains("\"task_loss\""));
        string checkpoint = Checkpoints.Latest(run)!;
        Assert.Equal("[\n  \"dark\",\n  \"light\"\n]", File.ReadAllText(Path.Combine(checkpoint, "labels.json")).Replace("\r", ""));

        string json = Temp("metrics") + ".json";
        var ev = Ok("evaluate", "--model", run, "--file", fx.Validation, "--out", json);
        Assert.Contains("examples      6", ev.Out);
        Assert.Matches(@"accuracy      \d\.\d{4}", ev.Out);
        Assert.Matches(@"macro-F1      \d\.\d{4}", ev.Out);
        Assert.Contains("confusion matrix (rows: gold, columns: predicted)", ev.Out);
        using (var doc = JsonDocument.Parse(File.ReadAllText(json)))
        {
            Assert.Equal(6, doc.RootElement.GetProperty("confusion").EnumerateArray().Sum(r => r.EnumerateArray().Sum(c => c.GetInt32())));
            Assert.InRange(doc.RootElement.GetProperty("accuracy").GetDouble(), 0, 1);
        }

        string preds = Temp("preds") + ".jsonl";
        Ok("predict", "--model", run, "--file", fx.Validation, "--out", preds);
        var lines = File.ReadAllLines(preds);
        Assert.Equal(6, lines.Length);
        foreach (var line in lines)
        {
            using var doc = JsonDocument.Parse(line);
            var probabilities = doc.RootElement.GetProperty("probabilities").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
            Assert.Equal(["dark", "light"], probabilities.Keys.Order());
            Assert.Equal(1.0, probabilities.Values.Sum(), 4);
            Assert.Equal(probabilities.MaxBy(p => p.Value).Key, doc.RootElement.GetProperty("label").GetString());
        }
    }

    [Fact]
    public void BertMultipleChoiceWithAFrozenEncoderChangesOnlyTheHead()
    {
        string run = Temp("bert-mc");
        var ft = Ok("finetune", "--model", fx.Bert, "--task", "choice", "--train", fx.Choices, "--out", run, "--epochs", "2", "--batch-size", "4",
            "--learning-rate", "0.01", "--freeze-encoder", "--validation-split", "0.25");
        Assert.Contains("BertForMultipleChoice", ft.Out);
        Assert.Contains("9 train, 3 validation examples", ft.Out);
        Assert.Contains("(encoder frozen)", ft.Out);
        using var before = SafeTensorsFile.Open(Path.Combine(Checkpoints.Latest(fx.Bert)!, "model.safetensors"));
        using var after = SafeTensorsFile.Open(Path.Combine(Checkpoints.Latest(run)!, "model.safetensors"));
        Assert.Equal(["classifier.bias", "classifier.weight"], after.Names.Where(n => !n.StartsWith("bert.")).Order());
        foreach (var name in after.Names.Where(n => n.StartsWith("bert.")))
        {
            using var a = before.Load(name, TorchSharp.torch.ScalarType.Float32);
            using var b = after.Load(name, TorchSharp.torch.ScalarType.Float32);
            Assert.True(a.eq(b).all().item<bool>(), name);
        }
        var ev = Ok("evaluate", "--model", run, "--file", fx.Choices, "--out", Temp("m") + ".json");
        Assert.Contains("examples      12", ev.Out);
        Assert.Contains("choice 1", ev.Out);
    }

    [Fact]
    public void BertSimilarityReportsPearsonAndSpearman()
    {
        string run = Temp("bert-sts");
        Ok("finetune", "--model", fx.Bert, "--task", "similarity", "--train", fx.Similarity, "--validation", fx.Similarity, "--out", run,
            "--epochs", "2", "--batch-size", "4", "--learning-rate", "0.003");
        var ev = Ok("evaluate", "--model", run, "--file", fx.Similarity, "--out", Temp("m") + ".json");
        Assert.Matches(@"pearson       -?\d\.\d{4}", ev.Out);
        Assert.Matches(@"spearman      -?\d\.\d{4}", ev.Out);
        string preds = Temp("p") + ".jsonl";
        Ok("predict", "--model", run, "--file", fx.Similarity, "--out", preds);
        Assert.All(File.ReadAllLines(preds), l => Assert.Contains("\"score\":", l));
    }

    [Fact]
    public void TruncationIsCountedAndPrintedNeverSilent()
    {
        var r = Ok("finetune", "--model", fx.Gpt, "--task", "classify", "--train", fx.Train, "--validation", fx.Validation, "--out", Temp("trunc"),
            "--epochs", "1", "--batch-size", "8", "--max-length", "8");
        Assert.Contains($"warning: {fx.Train}: 24 of 24 examples were longer than 8 tokens and were truncated", r.Err);
        Assert.Contains($"warning: {fx.Validation}: 6 of 6 examples", r.Err);
        Assert.Contains("24 train, 6 validation examples", r.Out);
    }

    [Fact]
    public void BadInputsAreOneLineErrors()
    {
        string unseen = Temp("unseen") + ".csv";
        File.WriteAllText(unseen, "text,label\nAnd there was light.,neutral\n");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--model", fx.Gpt, "--task", "classify", "--train", fx.Train, "--validation", unseen, "--out", Temp("x")),
            "line 2: label 'neutral' was not seen in training");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--model", fx.Bert, "--task", "classify", "--train", fx.Train, "--text", "sentence", "--out", Temp("x")),
            "unknown column 'sentence'");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--model", fx.Bert, "--task", "rank", "--train", fx.Train, "--out", Temp("x")),
            "--task", "classify, pair, similarity, choice, tag or span");
        CliHarness.AssertOneLineError(CliHarness.Run("evaluate", "--model", fx.Bert, "--file", fx.Validation), "not a fine-tuned model");
        string empty = Temp("empty") + ".jsonl";
        File.WriteAllText(empty, "");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--model", fx.Bert, "--task", "classify", "--train", empty, "--out", Temp("x")), "no examples");
        // Checked by the library (FineTuningOptions.MaxLength) and reported by the flag that set it.
        var tooShort = CliHarness.Run("finetune", "--model", fx.Bert, "--task", "classify", "--train", fx.Train, "--max-length", "3", "--out", Temp("x"));
        CliHarness.AssertOneLineError(tooShort, "--max-length must be in [8,", "(got 3)");
        Assert.DoesNotContain("FineTuningOptions", tooShort.Err);
    }
}
