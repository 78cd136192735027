using Ptm.Training;

namespace Ptm.Tests.Cli;

/// <summary>A tiny BERT pre-trained once through the CLI, shared by the tests below.</summary>
public sealed class TinyBertFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ptm-bert-" + Guid.NewGuid().ToString("N"));
    public string Corpus => Path.Combine(Root, "corpus");
    public string Config => Path.Combine(Root, "tiny-bert.json");
    public string Run => Path.Combine(Root, "run");
    public string Sentences => Path.Combine(Root, "sentences.txt");

    public const string TinyConfig = """
        {
          "model": { "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
                     "max_position_embeddings": 32, "hidden_dropout_prob": 0, "attention_probs_dropout_prob": 0 },
          "tokenizer": { "kind": "wordpiece", "vocab_size": 120 },
          "data": { "max_seq_length": 24, "dupe_factor": 2, "max_predictions_per_seq": 4 },
          "training": { "batch_size": 4, "max_steps": 4, "warmup_steps": 1, "eval_interval": 2, "eval_iters": 1,
                        "log_interval": 1, "checkpoint_interval": 2 }
        }
        """;

    public TinyBertFixture()
    {
        Directory.CreateDirectory(Corpus);
        string Doc(string s, int n) => string.Concat(Enumerable.Repeat(s + "\n", n));
        File.WriteAllText(Path.Combine(Corpus, "train.txt"),
            Doc("In the beginning God created the heaven and the earth.", 6) + "\n\f\n" +
            Doc("And God said, Let there be light: and there was light.", 6) + "\n\f\n" +
            Doc("And the evening and the morning were the first day.", 6));
        File.WriteAllText(Path.Combine(Corpus, "validation.txt"),
            Doc("And God saw the light, that it was good.", 4) + "\n\f\n" + Doc("And God called the light Day.", 4));
        File.WriteAllText(Sentences, "Let there be light.\nAnd God saw the light.\nThe earth was void.\n");
        File.WriteAllText(Config, TinyConfig);
        var r = CliHarness.Run("pretrain", "bert", "--config", Config, "--data", Corpus, "--out", Run, "--samples", "1");
        if (r.ExitCode != 0) throw new InvalidOperationException($"fixture run failed: {r.Err}\n{r.Out}");
        PretrainOutput = r.Out;
    }

    public string PretrainOutput { get; }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, true);
    }
}

public class BertCliTests(TinyBertFixture run) : IClassFixture<TinyBertFixture>
{
    string Temp(string name) => Path.Combine(run.Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public void PretrainReportsMlmAndNspAgainstTheUnigramBaselineAndSavesAHuggingFaceLayout()
    {
        Assert.Matches(@"validation MLM accuracy \d+\.\d %", run.PretrainOutput);
        Assert.Contains("NSP accuracy", run.PretrainOutput);
        Assert.Contains("unigram baseline", run.PretrainOutput);
        Assert.Contains("fill-mask:", run.PretrainOutput);
        string latest = Checkpoints.Latest(run.Run)!;
        foreach (var f in new[] { "config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(latest, f)), f);
        Assert.Contains("\"model_type\": \"bert\"", File.ReadAllText(Path.Combine(latest, "config.json")));
        var metrics = File.ReadAllLines(Path.Combine(run.Run, "metrics.jsonl"));
        Assert.Contains(metrics, l => l.Contains("\"val_mlm_acc\"") && l.Contains("\"val_pair_acc\""));
    }

    [Fact]
    public void FillMaskPrintsTopKWithProbabilities()
    {
        var r = CliHarness.Run("fill-mask", "--model", run.Run, "--top-k", "3", "Let there be [MASK].");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        var probabilities = lines.Select(l => double.Parse(l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[^2], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(probabilities.OrderByDescending(p => p), probabilities);
    }

    [Fact]
    public void FillMaskWithoutAMaskIsAnError()
    {
        CliHarness.AssertOneLineError(CliHarness.Run("fill-mask", "--model", run.Run, "no mask here"), "no [MASK] token");
    }

    [Fact]
    public void GptCommandsRefuseABertModel()
    {
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", run.Run, "--prompt", "x"), "model_type is \"bert\"");
    }

    [Fact]
    public void EmbedWritesOneVectorPerSentenceOfTheChosenLayersWidth()
    {
        string output = Temp("vectors") + ".jsonl";
        var r = CliHarness.Run("embed", "--model", run.Run, "--file", run.Sentences, "--out", output, "--layers", "-1,0", "--tokens");
        Assert.Equal(0, r.ExitCode);
        var lines = File.ReadAllLines(output);
        Assert.Equal(3, lines.Length);
        using var doc = System.Text.Json.JsonDocument.Parse(lines[0]);
        Assert.Equal(2 * 16, doc.RootElement.GetProperty("vector").GetArrayLength());
        var first = doc.RootElement.GetProperty("tokens")[0];
        Assert.Equal("let", first.GetProperty("token").GetString());
        Assert.Equal(0, first.GetProperty("start").GetInt32());
    }

    [Fact]
    public void EmbedComparesAWordAcrossContexts()
    {
        var r = CliHarness.Run("embed", "--model", run.Run, "--file", run.Sentences, "--word", "light");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("contextual vectors of \"light\"", r.Out);
        Assert.Matches(@"\[1\]\s+1\.000\s+-?\d\.\d{3}", r.Out);
    }

    [Fact]
    public void SimilarRanksTheQueryItselfFirst()
    {
        var r = CliHarness.Run("similar", "--model", run.Run, "--file", run.Sentences, "--query", "The earth was void.", "--top", "1");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"^1\.0000  The earth was void\.", r.Out.Trim());
    }

    [Fact]
    public void ResumeContinuesABertRun()
    {
        string output = Temp("resume");
        Assert.Equal(0, CliHarness.Run("pretrain", "bert", "--config", run.Config, "--data", Path.Combine(run.Run, "data"), "--out", output, "--samples", "0").ExitCode);
        var r = CliHarness.Run("pretrain", "bert", "--out", output, "--resume", "--max-steps", "6", "--samples", "0");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("resuming at step 4", r.Out);
    }

    [Fact]
    public void PrepareWritesBertInstancesThatPretrainAccepts()
    {
        string data = Temp("bert-data");
        var r = CliHarness.Run("prepare", run.Corpus, "--out", data, "--objective", "mlm-sop", "--tokenizer", "wordpiece", "--vocab-size", "120", "--max-seq-length", "24", "--dupe-factor", "1");
        Assert.Equal(0, r.ExitCode);
        Assert.Matches(@"mlm-sop, \d+ WordPiece tokens, sequences of 24", r.Out);
        Assert.True(File.Exists(Path.Combine(data, "train.bert.bin")));
        var p = CliHarness.Run("pretrain", "bert", "--config", run.Config, "--data", data, "--out", Temp("sop-run"), "--samples", "0");
        Assert.Equal(0, p.ExitCode);
        Assert.Contains("SOP accuracy", p.Out);
    }

    [Fact]
    public void RobertaStyleRunHasNoPairTaskAndMasksDynamically()
    {
        string output = Temp("roberta");
        var r = CliHarness.Run("pretrain", "bert", "--config", run.Config, "--data", run.Corpus, "--out", output, "--samples", "0",
            "--set", "data.pair_task=none", "--set", "data.masking=dynamic");
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("pair_acc", File.ReadAllText(Path.Combine(output, "metrics.jsonl")));
        Assert.Contains("\"objective\": \"mlm\"", File.ReadAllText(Path.Combine(output, "data", "manifest.json")));
        Assert.Contains("validation MLM accuracy", r.Out);
    }

    [Fact]
    public void AlbertStyleRunSharesLayersAndFactorisesEmbeddings()
    {
        string output = Temp("albert");
        var r = CliHarness.Run("pretrain", "bert", "--config", run.Config, "--data", run.Corpus, "--out", output, "--samples", "0",
            "--set", "model.embedding_size=8", "--set", "model.share_layers=true", "--set", "model.num_hidden_layers=3", "--set", "data.pair_task=sop");
        Assert.Equal(0, r.ExitCode);
        using var weights = Ptm.HuggingFace.SafeTensorsFile.Open(Path.Combine(Checkpoints.Latest(output)!, "model.safetensors"));
        Assert.Equal(new long[] { 16, 8 }, weights.GetInfo("bert.encoder.embedding_hidden_mapping_in.weight").Shape);
        Assert.DoesNotContain("bert.encoder.layer.1.output.dense.weight", weights.Names);
    }

    [Fact]
    public void DataOfTheOtherFamilyIsAClearError()
    {
        var r = CliHarness.Run("pretrain", "gpt", "--data", Path.Combine(run.Run, "data"), "--out", Temp("never"), "--samples", "0");
        CliHarness.AssertOneLineError(r, "holds BERT (masked-LM) data", "objective lm");
    }

    [Fact]
    public void OneDocumentCorpusCannotMakeNspPairs()
    {
        string corpus = Temp("one-doc");
        Directory.CreateDirectory(corpus);
        // One line per split: no paragraphs or runs of lines to cut it into, so NSP has no second document to draw B from.
        File.WriteAllText(Path.Combine(corpus, "train.txt"), "And God said, Let there be light.\n");
        File.WriteAllText(Path.Combine(corpus, "validation.txt"), "And there was light, and it was good.\n");
        var r = CliHarness.Run("pretrain", "bert", "--config", run.Config, "--data", corpus, "--out", Temp("never"), "--samples", "0");
        CliHarness.AssertOneLineError(r, "train split", "BertDataOptions.Task NSP needs at least 2", "PairTask.None");
    }

    [Fact]
    public void SequenceLongerThanThePositionTableIsAConfigError()
    {
        var r = CliHarness.Run("pretrain", "bert", "--config", run.Config, "--data", run.Corpus, "--out", Temp("never"), "--set", "data.max_seq_length=64");
        CliHarness.AssertOneLineError(r, "'data.max_seq_length' (64) exceeds 'model.max_position_embeddings' (32)");
    }

    [Fact]
    public void VocabularyWithoutSpecialTokensIsAnError()
    {
        string model = Temp("model");
        Directory.CreateDirectory(model);
        foreach (var f in Directory.GetFiles(Checkpoints.Latest(run.Run)!)) File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        string vocab = Path.Combine(model, "vocab.txt");
        File.WriteAllLines(vocab, File.ReadAllLines(vocab).Where(l => l != "[MASK]"));
        File.Delete(Path.Combine(model, "tokenizer.json"));   // else it, not the edited vocab.txt, is loaded
        CliHarness.AssertOneLineError(CliHarness.Run("fill-mask", "--model", model, "a [MASK]"), "vocab.txt", "[MASK]");
    }
}
