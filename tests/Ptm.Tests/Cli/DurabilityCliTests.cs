using System.Diagnostics;
using System.Security.Cryptography;
using Ptm.Training;

namespace Ptm.Tests.Cli;

/// <summary>The pre-training command under faults: damaged checkpoints, interrupted and finished runs, bad targets,
/// file-size limits, kills at random moments.</summary>
public class DurabilityCliTests(TinyRunFixture run) : IClassFixture<TinyRunFixture>
{
    string Temp(string name) => Path.Combine(run.Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>A copy of the fixture's finished run (4 steps, checkpoints at 2 and 4).</summary>
    string CopyRun()
    {
        string to = Temp("copy");
        Copy(run.Run, to);
        return to;
    }

    static void Copy(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(from)) Copy(d, Path.Combine(to, Path.GetFileName(d)));
    }

    static string Sha(string file) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));

    static string Weights(string runDir) => Path.Combine(Checkpoints.Latest(runDir)!, "model.safetensors");

    static CliHarness.Result Resume(string runDir, params string[] extra) =>
        CliHarness.Run(["pretrain", "gpt", "--out", runDir, "--resume", "--samples", "0", .. extra]);

    [Fact]
    public void ADamagedLatestCheckpointIsRefusedNamingTheIntactOneWhichUseIntactTakes()
    {
        string copy = CopyRun();
        string weights = Weights(copy);
        var bytes = File.ReadAllBytes(weights);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(weights, bytes);
        string runJson = File.ReadAllText(Path.Combine(copy, RunFolder.RunFile));

        var refused = Resume(copy, "--max-steps", "6");
        CliHarness.AssertOneLineError(refused, "step-00000004: damaged checkpoint (model.safetensors: sha256 differs", "newest intact checkpoint is step-00000002", "--use-intact");
        Assert.Equal(runJson, File.ReadAllText(Path.Combine(copy, RunFolder.RunFile))); // a failed resume rewrites nothing

        var verify = CliHarness.Run("inspect", "--verify", copy);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("step-00000004 (latest): damaged", verify.Out);
        Assert.Contains("step-00000002: ok", verify.Out);

        var taken = Resume(copy, "--use-intact");
        Assert.Equal(0, taken.ExitCode);
        Assert.Contains("resuming at step 2", taken.Out);
        // Steps 3 and 4 again, from step 2: the same weights as the uninterrupted run.
        Assert.Equal(Sha(Weights(run.Run)), Sha(Weights(copy)));
        Assert.Equal(0, CliHarness.Run("inspect", "--verify", copy).ExitCode);
    }

    [Fact]
    public void InspectVerifyChecksAModelFolder()
    {
        var ok = CliHarness.Run("inspect", "--verify", Checkpoints.Latest(run.Run)!);
        Assert.Equal(0, ok.ExitCode);
        Assert.Matches(@"ok, [0-9]+ files match checksums\.json", ok.Out);
    }

    [Fact]
    public void AFailedResumeLeavesRunJsonAsItWas()
    {
        string copy = CopyRun();
        foreach (string step in Checkpoints.Steps(copy)) File.Delete(Path.Combine(step, Checkpoints.ChecksumsFile)); // unverifiable, as before checksums
        string optimizer = Path.Combine(Checkpoints.Latest(copy)!, "optimizer.bin");
        File.WriteAllBytes(optimizer, File.ReadAllBytes(optimizer)[..100]);
        string runJson = File.ReadAllText(Path.Combine(copy, RunFolder.RunFile));
        CliHarness.AssertOneLineError(Resume(copy, "--max-steps", "25"), "optimizer.bin");
        Assert.Equal(runJson, File.ReadAllText(Path.Combine(copy, RunFolder.RunFile)));
    }

    [Fact]
    public void ResumingAFinishedRunSaysSoWithTheModelPath()
    {
        string copy = CopyRun();
        var r = Resume(copy);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"already finished at step 4 (training.max_steps 4); model in {Path.Combine(copy, Checkpoints.Folder, "step-00000004")}", r.Out);
    }

    /// <summary>A run killed before its first checkpoint resumes from step 0 and ends exactly where an uninterrupted
    /// run does; its metrics start again too.</summary>
    [Fact]
    public void ARunKilledBeforeItsFirstCheckpointResumesFromStepZeroExactly()
    {
        string copy = CopyRun();
        Directory.Delete(Path.Combine(copy, Checkpoints.Folder), true);
        File.WriteAllText(Path.Combine(copy, "metrics.jsonl"), "{\"step\": 1, \"loss\": 9}\n{\"step\": 2, \"lo");
        CliHarness.AssertOneLineError(CliHarness.Run("pretrain", "gpt", "--config", run.Config, "--data", run.Corpus, "--out", copy, "--samples", "0"), "--resume");
        var r = Resume(copy);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(Sha(Weights(run.Run)), Sha(Weights(copy)));
        Assert.Equal(File.ReadAllLines(Path.Combine(run.Run, "metrics.jsonl")).Select(MetricsFile.StepOf),
            File.ReadAllLines(Path.Combine(copy, "metrics.jsonl")).Select(MetricsFile.StepOf));
    }

    [Fact]
    public void AMetricsFileEndingInAPartialOrBlankLineResumesCleanly()
    {
        foreach (string tail in new[] { "\n\n", "{\"step\": 5, \"loss\": 1.2" })
        {
            string copy = CopyRun();
            File.AppendAllText(Path.Combine(copy, "metrics.jsonl"), tail);
            var r = Resume(copy, "--max-steps", "5");
            Assert.True(r.ExitCode == 0, r.Err);
            Assert.Equal("", r.Err);
            var steps = File.ReadAllLines(Path.Combine(copy, "metrics.jsonl")).Select(MetricsFile.StepOf).ToList();
            Assert.DoesNotContain(null, steps);
            Assert.Equal(5, steps.Max());
        }
    }

    [Fact]
    public void OutPointingAtAFileIsAOneLineError()
    {
        string file = Temp("file");
        File.WriteAllText(file, "x");
        CliHarness.AssertOneLineError(CliHarness.Run("pretrain", "gpt", "--config", run.Config, "--data", run.Corpus, "--out", file, "--samples", "0"), file, "is a file");
        CliHarness.AssertOneLineError(Resume(file), file, "is a file");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--model", run.Run, "--task", "classify", "--train", file, "--out", file), file, "is a file");
        Assert.Equal("x", File.ReadAllText(file));
    }

    [Fact]
    public void ABadOverrideIsBlamedOnTheOverrideNotTheConfigFile()
    {
        var r = CliHarness.Run("pretrain", "gpt", "--config", run.Config, "--data", run.Corpus, "--out", Temp("set"), "--samples", "0", "--set", "training.batch_size=two");
        CliHarness.AssertOneLineError(r, "override training.batch_size=two", "batch_size");
        Assert.DoesNotContain(run.Config, r.Err);
    }

    [Fact]
    public void TokenIdsBeyondTheVocabularyAreRefusedWhenTheDataIsOpened()
    {
        string data = Temp("data");
        Copy(Path.Combine(run.Run, "data"), data);
        string shard = Directory.GetFiles(data, "train*.bin").Single();
        var bytes = File.ReadAllBytes(shard);
        bytes[20] = 0xFF;
        bytes[21] = 0xFF;
        File.WriteAllBytes(shard, bytes);
        var r = CliHarness.Run("pretrain", "gpt", "--config", run.Config, "--data", data, "--out", Temp("ids"), "--samples", "0");
        CliHarness.AssertOneLineError(r, shard, "token 10 has id 65535, outside the vocabulary");
    }

    [Fact]
    public void AnEmptyPromptIsCalledOut()
    {
        // A character vocabulary has no end-of-text token to start from: refused.
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", run.Run, "--prompt", "", "--max-new-tokens", "2"), "prompt is empty");
        // A BPE vocabulary has one: generation starts from it, and says so.
        string bpe = Temp("bpe");
        Assert.Equal(0, CliHarness.Run("pretrain", "gpt", "--config", run.Config, "--data", run.Corpus, "--out", bpe, "--samples", "0", "--max-steps", "1",
            "--set", "tokenizer.kind=bpe", "--set", "tokenizer.vocab_size=300").ExitCode);
        var r = CliHarness.Run("generate", "--model", bpe, "--prompt", "", "--max-new-tokens", "2");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("warning: empty prompt: generating from the end-of-text token alone (the start of a new document)\n", r.Err);
    }

    static string Cli => Path.Combine(AppContext.BaseDirectory, "Ptm.Cli.dll");

    static (int Code, string Out, string Err) Child(string shell, int timeoutMs = 300_000)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(shell);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException(shell); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// A file-size limit (ulimit -f) that a checkpoint exceeds: without SIGXFSZ ignored the kernel kills the process
    /// and leaves a partial file; with it the write fails with EFBIG, the command prints one line and exits 1, nothing
    /// half-written stays, and the run resumes (from step 0) once the limit is lifted.
    /// </summary>
    [SkippableFact]
    public void AFileSizeLimitIsAOneLineErrorAndTheRunResumesAfterwards()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "ulimit -f and SIGXFSZ are Unix features; tested on Linux");
        string output = Temp("fsize");
        // 8 KiB: enough for the prepared data of the tiny corpus, not for a checkpoint's weights and optimizer state.
        // W^X off: the runtime's double-mapped code heap is a file that an 8 KiB limit would refuse at start-up.
        var (code, _, err) = Child($"ulimit -f 8; export DOTNET_EnableWriteXorExecute=0; exec dotnet '{Cli}' pretrain gpt --config '{run.Config}' --data '{run.Corpus}' --out '{output}' --samples 0");
        Assert.True(code == 1, $"exit {code}: {err}");
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, err);
        Assert.Contains("file too large for the file-size limit (EFBIG", lines[0]);
        Assert.Contains(Path.Combine(output, Checkpoints.Folder), lines[0]);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(output, Checkpoints.Folder)));
        Assert.Equal(0, Resume(output).ExitCode);
        Assert.Equal(Sha(Weights(run.Run)), Sha(Weights(output)));
    }

    /// <summary>
    /// The crash trials of tools/crash-trials.sh, a handful of them: a run checkpointing every step is killed with
    /// SIGKILL at a random moment (during start-up, a step or a checkpoint write), then resumed to the end. Each time
    /// latest names an intact checkpoint (or none yet), no staged folder survives the resume, every metrics step
    /// appears once, and the final weights equal those of an uninterrupted run byte for byte.
    /// </summary>
    [SkippableFact]
    public void KilledAtRandomMomentsEveryResumeIsCleanAndExact()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the trial kills a child process with kill -9");
        const int steps = 12;
        string[] settings = ["--max-steps", $"{steps}", "--set", "training.checkpoint_interval=1", "--set", "training.eval_interval=6"];
        string reference = Temp("reference");
        Assert.Equal(0, CliHarness.Run(["pretrain", "gpt", "--config", run.Config, "--data", run.Corpus, "--out", reference, "--samples", "0", .. settings]).ExitCode);
        string expected = Sha(Weights(reference));
        var rng = new Random(18);
        for (int trial = 0; trial < 3; trial++)
        {
            string output = Temp("kill");
            double delay = 1.0 + rng.NextDouble() * 5.0; // start-up takes about one to several seconds on a busy machine
            Child($"dotnet '{Cli}' pretrain gpt --config '{run.Config}' --data '{run.Corpus}' --out '{output}' --samples 0 {string.Join(' ', settings)} >/dev/null 2>&1 & pid=$!; "
                + $"sleep {delay.ToString(System.Globalization.CultureInfo.InvariantCulture)}; kill -9 $pid; wait $pid");
            if (!File.Exists(Path.Combine(output, RunFolder.RunFile))) continue; // killed while preparing: nothing to resume
            string? latest = Checkpoints.Latest(output);
            if (latest is not null) Assert.True(Checkpoints.Verify(latest).IsIntact, $"trial {trial}: {latest} damaged after kill at {delay:F2} s");
            var resumed = Resume(output);
            Assert.True(resumed.ExitCode == 0, $"trial {trial} (kill at {delay:F2} s): {resumed.Err}");
            Assert.Equal(expected, Sha(Weights(output)));
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(output, Checkpoints.Folder), ".*"));
            var lines = File.ReadAllLines(Path.Combine(output, "metrics.jsonl"));
            Assert.DoesNotContain(null, lines.Select(MetricsFile.StepOf));
            Assert.Equal(Enumerable.Range(1, steps).Select(i => (int?)i), lines.Where(l => l.Contains("\"loss\":")).Select(MetricsFile.StepOf));
        }
    }
}
