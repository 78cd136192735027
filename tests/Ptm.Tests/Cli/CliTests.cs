using System.Text;
using Ptm.Training;

namespace Ptm.Tests.Cli;

public class CliTests(TinyRunFixture run) : IClassFixture<TinyRunFixture>
{
    string Temp(string name) => Path.Combine(run.Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    string WriteConfig(Func<string, string> edit)
    {
        string path = Temp("config") + ".json";
        File.WriteAllText(path, edit(TinyRunFixture.TinyConfig));
        return path;
    }

    CliHarness.Result Pretrain(string config, string? data = null, string? output = null, params string[] extra) =>
        CliHarness.Run(["pretrain", "gpt", "--config", config, "--data", data ?? run.Corpus, "--out", output ?? Temp("run"), "--samples", "0", .. extra]);

    [Fact]
    public void PretrainWritesARunThatGenerateAndScoreUse()
    {
        Assert.Contains("validation loss", run.PretrainOutput);
        Assert.Contains("bits per byte", run.PretrainOutput);
        foreach (var f in new[] { "run.json", "metrics.jsonl", "loss.png", "checkpoints/latest", "data/manifest.json" })
            Assert.True(File.Exists(Path.Combine(run.Run, f)), f);
        Assert.Equal(4 + 2, File.ReadAllLines(Path.Combine(run.Run, "metrics.jsonl")).Length); // 4 steps, 2 evaluations
        var a = CliHarness.Run("generate", "--model", run.Run, "--prompt", "And God", "--max-new-tokens", "20", "--seed", "3");
        var b = CliHarness.Run("generate", "--model", run.Run, "--prompt", "And God", "--max-new-tokens", "20", "--seed", "3");
        Assert.Equal(0, a.ExitCode);
        Assert.StartsWith("And God", a.Out);
        Assert.Equal(a.Out, b.Out);
        var score = CliHarness.Run("score", "--model", run.Run, "--file", Path.Combine(run.Corpus, "validation.txt"));
        Assert.Equal(0, score.ExitCode);
        Assert.Matches(@"bits/byte\s+\d+\.\d{4}", score.Out);
    }

    [Fact]
    public void SeveralPromptsAreDecodedAsABatchAndPrintedInOrder()
    {
        string[] prompts = ["And God", "In the beginning", "the"];
        string[] common = ["generate", "--model", run.Run, "--max-new-tokens", "12", "--temperature", "0"];
        var alone = prompts.Select(p => CliHarness.Run([.. common, "--prompt", p]).Out.TrimEnd('\n')).ToArray();
        var batch = CliHarness.Run([.. common, "--prompt", prompts[0], "--prompt", prompts[1], "--prompt", prompts[2], "--batch-size", "2"]);
        Assert.Equal(0, batch.ExitCode);
        Assert.Equal(string.Join("\n" + Ptm.Cli.Commands.GenerateCommand.Separator + "\n", alone) + "\n", batch.Out);

        string file = Temp("prompts") + ".txt";
        File.WriteAllText(file, string.Join("\n\n", prompts) + "\n");
        Assert.Equal(batch.Out, CliHarness.Run([.. common, "--prompts-file", file]).Out);

        CliHarness.AssertOneLineError(CliHarness.Run([.. common, "--prompts-file", file, "--prompt", "a"]), "--prompt", "--prompts-file");
        CliHarness.AssertOneLineError(CliHarness.Run(common), "--prompt", "--prompts-file");
        CliHarness.AssertOneLineError(CliHarness.Run([.. common, "--prompt", "a", "--prompt", "b", "--batch-size", "0"]), "--batch-size");
        File.WriteAllText(file, "\n  \n");
        CliHarness.AssertOneLineError(CliHarness.Run([.. common, "--prompts-file", file]), file, "no prompts");
    }

    [Fact]
    public void ResumeContinuesToTheNewMaxSteps()
    {
        string output = Temp("resume");
        Assert.Equal(0, Pretrain(run.Config, output: output).ExitCode);
        var r = CliHarness.Run("pretrain", "gpt", "--out", output, "--resume", "--max-steps", "6", "--samples", "0");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("resuming at step 4", r.Out);
        Assert.EndsWith("step-00000006", Checkpoints.Latest(output));
    }

    [Fact]
    public void ExistingRunIsNotOverwrittenWithoutResumeOrForce()
    {
        string before = File.ReadAllText(Path.Combine(run.Run, "run.json"));
        var latest = Checkpoints.Latest(run.Run);
        var r = Pretrain(run.Config, output: run.Run);
        CliHarness.AssertOneLineError(r, run.Run, "--resume", "--force");
        Assert.Equal(before, File.ReadAllText(Path.Combine(run.Run, "run.json")));
        Assert.Equal(latest, Checkpoints.Latest(run.Run));
    }

    [Fact]
    public void MissingCorpusIsAnErrorAndCreatesNothing()
    {
        string output = Temp("never");
        var r = Pretrain(run.Config, data: Path.Combine(run.Root, "no-such-corpus"), output: output);
        CliHarness.AssertOneLineError(r, "no-such-corpus");
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void EmptyCorpusIsAnError()
    {
        string corpus = Temp("empty");
        Directory.CreateDirectory(corpus);
        File.WriteAllText(Path.Combine(corpus, "a.txt"), "");
        CliHarness.AssertOneLineError(Pretrain(run.Config, data: corpus), "corpus is empty");
    }

    [Fact]
    public void NonUtf8CorpusIsAnErrorNamingTheFile()
    {
        string corpus = Temp("latin1");
        Directory.CreateDirectory(corpus);
        string file = Path.Combine(corpus, "a.txt");
        File.WriteAllBytes(file, [.. Encoding.ASCII.GetBytes("caf"), 0xE9, (byte)'\n']);
        CliHarness.AssertOneLineError(Pretrain(run.Config, data: corpus), file, "not valid UTF-8");
    }

    [Theory]
    [InlineData("\"n_embd\": 16", "\"n_embed\": 16", "unknown field 'n_embed'")]
    [InlineData("\"n_layer\": 1", "\"n_layer\": \"one\"", "field 'n_layer' has the wrong type")]
    [InlineData("\"n_embd\": 16", "\"n_embd\": 15", "'n_embd' must be divisible by n_head (2)")]
    [InlineData("\"block_size\": 16", "\"block_size\": 64", "'training.block_size' (64) exceeds 'model.n_positions' (32)")]
    [InlineData("\"max_steps\": 4", "\"max_stepz\": 4", "unknown field 'max_stepz'")]
    public void BadConfigIsAOneLineErrorNamingTheField(string from, string to, string message)
    {
        string config = WriteConfig(c => c.Replace(from, to));
        string output = Temp("bad");
        var r = Pretrain(config, output: output);
        CliHarness.AssertOneLineError(r, config, message);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void MalformedConfigJsonIsAnError()
    {
        string config = WriteConfig(c => c[..^5]);
        CliHarness.AssertOneLineError(Pretrain(config), config, "not valid JSON");
    }

    [Fact]
    public void PromptLongerThanTheContextIsAnError()
    {
        var r = CliHarness.Run("generate", "--model", run.Run, "--prompt", new string('a', 40));
        CliHarness.AssertOneLineError(r, "prompt is 40 tokens", "n_positions = 32");
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void PromptWithCharactersOutsideTheVocabularyIsAnError()
    {
        var r = CliHarness.Run("generate", "--model", run.Run, "--prompt", "zebra ☃");
        CliHarness.AssertOneLineError(r, "not in the character vocabulary");
    }

    [Fact]
    public void TruncatedOrCorruptCheckpointIsAnError()
    {
        string model = CopyLatestModel();
        string weights = Path.Combine(model, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length - 10)]);
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", model, "--prompt", "And"), weights);

        File.WriteAllBytes(weights, [.. bytes[..8], .. Enumerable.Repeat((byte)'x', bytes.Length - 8)]);
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", model, "--prompt", "And"), weights);
    }

    [Fact]
    public void CheckpointThatDisagreesWithItsConfigIsAnError()
    {
        string model = CopyLatestModel();
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"n_embd\": 16", "\"n_embd\": 32"));
        CliHarness.AssertOneLineError(CliHarness.Run("score", "--model", model, "--file", Path.Combine(run.Corpus, "validation.txt")),
            "transformer.wte.weight", "has shape");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"n_embd\": 32", "\"n_embd\": 16").Replace("\"vocab_size\": ", "\"vocab_size\": 1"));
    }

    [Fact]
    public void MissingModelFolderIsAnError()
    {
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", Path.Combine(run.Root, "nothing"), "--prompt", "a"), "no such model or run folder");
    }

    [Fact]
    public void InvalidSamplingOptionIsAnError()
    {
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", run.Run, "--prompt", "And", "--top-p", "1.5"), "--top-p");
    }

    [Fact]
    public void PrepareWritesShardsAndRefusesToOverwrite()
    {
        string output = Temp("prepared");
        var r = CliHarness.Run("prepare", run.Corpus, "--out", output, "--tokenizer", "bpe", "--vocab-size", "300");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("bpe tokenizer, 300 tokens, uint16 shards", r.Out);
        foreach (var f in new[] { "manifest.json", "train.bin", "validation.bin", "vocab.json", "merges.txt" })
            Assert.True(File.Exists(Path.Combine(output, f)), f);
        long size = new FileInfo(Path.Combine(output, "train.bin")).Length;
        CliHarness.AssertOneLineError(CliHarness.Run("prepare", run.Corpus, "--out", output), output);
        Assert.Equal(size, new FileInfo(Path.Combine(output, "train.bin")).Length);
        // A prepared folder is accepted by pretrain as --data.
        Assert.Equal(0, Pretrain(run.Config, data: output).ExitCode);
    }

    string CopyLatestModel()
    {
        string source = Checkpoints.Latest(run.Run)!;
        string target = Temp("model");
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        return target;
    }
}
