using System.Text;

namespace Ptm.Tests.Cli;

/// <summary>Runs the ptm command in-process, capturing its output (tests run one at a time, so swapping Console is safe).</summary>
static class CliHarness
{
    public sealed record Result(int ExitCode, string Out, string Err);

    public static Result Run(params string[] args)
    {
        var outWriter = new StringWriter(new StringBuilder());
        var errWriter = new StringWriter(new StringBuilder());
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        Console.SetOut(outWriter);
        Console.SetError(errWriter);
        try
        {
            int code = Ptm.Cli.Program.Main(args);
            return new Result(code, outWriter.ToString(), errWriter.ToString());
        }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
        }
    }

    /// <summary>Asserts the documented failure shape: exit code 1 and exactly one error line naming <paramref name="mentions"/>.</summary>
    public static void AssertOneLineError(Result r, params string[] mentions)
    {
        Assert.Equal(1, r.ExitCode);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one error line, got: {r.Err}");
        Assert.StartsWith("error: ", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }
}

/// <summary>A temporary folder with a tiny corpus and a tiny run config; one pre-trained run shared by the class.</summary>
public sealed class TinyRunFixture : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ptm-cli-" + Guid.NewGuid().ToString("N"));
    public string Corpus => Path.Combine(Root, "corpus");
    public string Config => Path.Combine(Root, "tiny.json");
    public string Run => Path.Combine(Root, "run");

    public const string TinyConfig = """
        {
          "model": { "n_positions": 32, "n_embd": 16, "n_layer": 1, "n_head": 2, "resid_pdrop": 0, "embd_pdrop": 0, "attn_pdrop": 0 },
          "tokenizer": { "kind": "char" },
          "training": { "batch_size": 2, "block_size": 16, "max_steps": 4, "warmup_steps": 1, "eval_interval": 2,
                        "eval_iters": 1, "log_interval": 1, "checkpoint_interval": 2 }
        }
        """;

    public TinyRunFixture()
    {
        Directory.CreateDirectory(Corpus);
        string verse = "In the beginning God created the heaven and the earth. And the earth was without form, and void.\n";
        File.WriteAllText(Path.Combine(Corpus, "train.txt"), string.Concat(Enumerable.Repeat(verse, 20)) + "\n\f\n" + string.Concat(Enumerable.Repeat("And God said, Let there be light: and there was light.\n", 20)));
        File.WriteAllText(Path.Combine(Corpus, "validation.txt"), string.Concat(Enumerable.Repeat("And God saw the light, that it was good.\n", 10)));
        File.WriteAllText(Config, TinyConfig);
        var r = CliHarness.Run("pretrain", "gpt", "--config", Config, "--data", Corpus, "--out", Run, "--samples", "0");
        if (r.ExitCode != 0) throw new InvalidOperationException($"fixture run failed: {r.Err}\n{r.Out}");
        PretrainOutput = r.Out;
    }

    public string PretrainOutput { get; }

    public void Dispose()
    {
        if (Directory.Exists(Root)) Directory.Delete(Root, true);
    }
}
