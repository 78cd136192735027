using System.Diagnostics;
using Ptm.Training;

namespace Ptm.Tests.Cli;

public class InterruptTests(TinyRunFixture run) : IClassFixture<TinyRunFixture>
{
    /// <summary>A real SIGINT (what Ctrl-C sends) to a running `ptm pretrain`: it must finish the step, save a
    /// checkpoint, say how to resume and exit with 130; the resume then continues from that step.</summary>
    [Fact]
    public void CtrlCSavesACheckpointAndExitsCleanly()
    {
        string output = Path.Combine(run.Root, "interrupted-" + Guid.NewGuid().ToString("N")[..8]);
        string cli = Path.Combine(AppContext.BaseDirectory, "Ptm.Cli.dll");
        // A shell that starts a job in the background sets SIGINT to "ignored", the child inherits that, and .NET then
        // leaves SIGINT ignored (as shells expect); `env --default-signal=INT` gives the child Ctrl-C back.
        var psi = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--default-signal=INT", "dotnet", cli, "pretrain", "gpt", "--config", run.Config, "--data", run.Corpus, "--out", output,
                     "--max-steps", "1000000", "--set", "training.checkpoint_interval=1000000", "--set", "training.eval_interval=1000000", "--samples", "0" })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = new System.Text.StringBuilder();
        var sawSteps = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            if (e.Data.StartsWith("step ") && e.Data.Contains("/1000000")) sawSteps.Set();
        };
        string stderr = "";
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) stderr += e.Data + "\n"; };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            Assert.True(sawSteps.Wait(TimeSpan.FromSeconds(120)), $"training never started: {stdout}{stderr}");
            using (var kill = Process.Start("kill", $"-INT {process.Id}")) kill.WaitForExit();
            if (!process.WaitForExit(120_000))
            {
                string sofar;
                lock (stdout) sofar = stdout.ToString()[^Math.Min(stdout.Length, 2000)..];
                Assert.Fail($"the process did not stop within 120 s of SIGINT; output so far:\n{sofar}\nerrors:\n{stderr}");
            }
            process.WaitForExit();
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        string text;
        lock (stdout) text = stdout.ToString();
        Assert.True(process.ExitCode == 130, $"exit code {process.ExitCode}, not 130; output:\n{text}\nerrors:\n{stderr}");
        Assert.Contains("interrupted at step", text);
        Assert.Contains("--resume", text);
        string latest = Checkpoints.Latest(output)!;
        int step = Checkpoints.LoadState(latest).Step;
        Assert.True(step >= 1);
        Assert.Contains($"interrupted at step {step};", text);

        var resumed = CliHarness.Run("pretrain", "gpt", "--out", output, "--resume", "--max-steps", (step + 2).ToString(), "--samples", "0");
        Assert.True(resumed.ExitCode == 0, $"resume exited with {resumed.ExitCode}:\n{resumed.Out}\n{resumed.Err}");
        Assert.Contains($"resuming at step {step}", resumed.Out);
    }
}
