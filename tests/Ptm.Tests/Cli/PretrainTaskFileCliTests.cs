using System.Text.Json.Nodes;
using Ptm.Data;

namespace Ptm.Tests.Cli;

/// <summary>`ptm pretrain seq2seq --data TASK.csv --validation-data TASK.csv`: the task file's columns become the
/// run's monolingual blocks; bad input is one line and leaves no run folder.</summary>
public sealed class PretrainTaskFileCliTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-pretrain-task-" + Guid.NewGuid().ToString("N"));

    const string TinyBart = """
        {
          "model": { "d_model": 16, "encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2, "decoder_attention_heads": 2,
                     "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "max_position_embeddings": 64, "dropout": 0 },
          "tokenizer": { "kind": "bpe", "vocab_size": 300 },
          "data": { "max_seq_length": 64, "permute_sentences": false },
          "training": { "batch_size": 2, "max_steps": 2, "warmup_steps": 1, "eval_interval": 2, "eval_iters": 1,
                        "log_interval": 1, "checkpoint_interval": 2 }
        }
        """;

    public PretrainTaskFileCliTests()
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Config, TinyBart);
        File.WriteAllText(Train, "entry,source,target\n1,Ich bin hier.,I am here.\n2,Das ist gut.,That is good.\n3,Er schläft.,He sleeps.\n");
        File.WriteAllText(Validation, "entry,source,target\n4,Guten Tag.,Good day.\n5,Danke.,Thanks.\n");
    }

    string Config => Path.Combine(dir, "tiny-bart.json");
    string Train => Path.Combine(dir, "train.csv");
    string Validation => Path.Combine(dir, "validation.csv");

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
    }

    [Fact]
    public void TaskFileColumnsBecomeSeparateBlocksOfTheRunsData()
    {
        string run = Path.Combine(dir, "run");
        var r = CliHarness.Run("pretrain", "seq2seq", "--config", Config, "--data", Train, "--validation-data", Validation, "--out", run, "--samples", "0");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        var data = DenoisingData.Load(Path.Combine(run, "data"));
        string[][] Lines(int[][][] split) => split.Select(sequence => sequence.Select(s => data.Tokenizer.Decode(s).Trim()).ToArray()).ToArray();
        Assert.Equal(new[] { new[] { "Ich bin hier.", "Das ist gut.", "Er schläft." }, new[] { "I am here.", "That is good.", "He sleeps." } }, Lines(data.Train));
        Assert.Equal(new[] { new[] { "Guten Tag.", "Danke." }, new[] { "Good day.", "Thanks." } }, Lines(data.Validation));
        var source = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "data", DataManifest.FileName)))!["source"]!;
        Assert.Equal(Train, source["train"]!.GetValue<string>());
        Assert.Equal(Validation, source["validation"]!.GetValue<string>());

        // Other columns, in the order given: the entry numbers become a block of their own.
        string other = Path.Combine(dir, "run-columns");
        r = CliHarness.Run("pretrain", "seq2seq", "--config", Config, "--data", Train, "--validation-data", Validation, "--columns", "target, entry",
            "--out", other, "--samples", "0");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        data = DenoisingData.Load(Path.Combine(other, "data"));
        Assert.Equal(new[] { new[] { "I am here.", "That is good.", "He sleeps." }, new[] { "1", "2", "3" } }, Lines(data.Train));
    }

    [Fact]
    public void BadTaskInputIsOneLineAndWritesNothing()
    {
        string run = Path.Combine(dir, "run");
        string noTarget = Path.Combine(dir, "no-target.csv");
        File.WriteAllText(noTarget, "source,ziel\nIch.,I.\n");
        var r = CliHarness.Run("pretrain", "seq2seq", "--config", Config, "--data", Train, "--validation-data", noTarget, "--out", run);
        CliHarness.AssertOneLineError(r, noTarget, "unknown column 'target'");
        string empty = Path.Combine(dir, "empty.tsv");
        File.WriteAllText(empty, "");
        r = CliHarness.Run("pretrain", "seq2seq", "--config", Config, "--data", empty, "--validation-data", Validation, "--out", run);
        CliHarness.AssertOneLineError(r, empty, "empty");
        r = CliHarness.Run("pretrain", "seq2seq", "--config", Config, "--data", Train, "--columns", "source,", "--out", run);
        CliHarness.AssertOneLineError(r, "--columns", "source,");
        string text = Path.Combine(dir, "text.txt");
        File.WriteAllText(text, "Ich bin hier.\n\nI am here.\n");
        r = CliHarness.Run("pretrain", "seq2seq", "--config", Config, "--data", text, "--columns", "source", "--out", run);
        CliHarness.AssertOneLineError(r, "--columns", text);
        Assert.False(Directory.Exists(run));
        Assert.Equal(new[] { Config, empty, noTarget, text, Train, Validation }.Order(), Directory.GetFileSystemEntries(dir).Order());
    }
}
