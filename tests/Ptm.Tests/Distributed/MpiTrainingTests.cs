using System.Diagnostics;
using System.Text;
using Ptm.Distributed;
using Ptm.Tests.Cli;
using Ptm.Training;

namespace Ptm.Tests.Distributed;

/// <summary>
/// `ptm pretrain gpt --distributed` under a real `mpirun -np 2` (Open MPI): the same model as one process, a resume
/// with another number of ranks, and a killed rank ending the job. Skipped, with the reason, where Open MPI is not
/// installed (Debian: openmpi-bin).
/// </summary>
public sealed class MpiTrainingTests : IDisposable
{
    readonly string root = Path.Combine(Path.GetTempPath(), "ptm-mpi-" + Guid.NewGuid().ToString("N"));
    static readonly string Cli = Path.Combine(AppContext.BaseDirectory, "Ptm.Cli.dll");

    public MpiTrainingTests()
    {
        Directory.CreateDirectory(Path.Combine(root, "corpus"));
        string verse = "In the beginning God created the heaven and the earth. And the earth was without form, and void.\n";
        File.WriteAllText(Path.Combine(root, "corpus", "train.txt"), string.Concat(Enumerable.Repeat(verse, 40)) + "\n\f\n" + string.Concat(Enumerable.Repeat("And God said, Let there be light: and there was light.\n", 40)));
        File.WriteAllText(Path.Combine(root, "corpus", "validation.txt"), string.Concat(Enumerable.Repeat("And God saw the light, that it was good.\n", 10)));
        File.WriteAllText(Path.Combine(root, "tiny.json"), TinyRunFixture.TinyConfig);
    }

    public void Dispose()
    {
        if (Directory.Exists(root)) Directory.Delete(root, true);
    }

    static string? MpirunPath() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);

    static void SkipWithoutMpi()
    {
        Skip.If(MpirunPath() is null, "Open MPI's mpirun is not on PATH (Debian: apt-get install openmpi-bin)");
        Skip.IfNot(MpiProcessGroup.IsAvailable(out string reason), reason);
    }

    string[] Train(string run, params string[] more) =>
        ["pretrain", "gpt", "--config", Path.Combine(root, "tiny.json"), "--data", Path.Combine(root, "corpus"), "--out", Path.Combine(root, run),
         "--samples", "0", "--threads", "1", .. more];

    sealed record Outcome(int ExitCode, string Output);

    /// <summary>Runs ptm on <paramref name="ranks"/> MPI ranks (0: a plain process without mpirun).</summary>
    static Outcome Ptm(int ranks, string[] args, Action<Process>? whileRunning = null, int timeoutSeconds = 300)
    {
        var psi = new ProcessStartInfo(ranks == 0 ? "dotnet" : MpirunPath()!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (ranks > 0)
        {
            foreach (var a in new[] { "-np", ranks.ToString(), "--oversubscribe", "dotnet" }) psi.ArgumentList.Add(a);
            // mpirun refuses to run as root unless told twice; the tests may run as root in CI containers.
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
            psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        }
        psi.ArgumentList.Add(Cli);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            whileRunning?.Invoke(process);
            Assert.True(process.WaitForExit(timeoutSeconds * 1000), $"ptm on {ranks} ranks did not finish in {timeoutSeconds} s: {output}");
            process.WaitForExit();
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        lock (output) return new Outcome(process.ExitCode, output.ToString());
    }

    static byte[] Weights(string checkpoint) => File.ReadAllBytes(Path.Combine(checkpoint, "model.safetensors"));

    /// <summary>
    /// Two ranks × batch 2 for 4 steps give byte-identical weights and the same logged losses as one process with two
    /// accumulation steps; only rank 0 writes. The run then resumes on one rank and still matches the single process
    /// resumed with one accumulation step (a checkpoint counts micro-batches of all ranks).
    /// </summary>
    [SkippableFact]
    public void TwoRanksTrainTheSameModelAsOneProcessAndResumeOnOneRank()
    {
        SkipWithoutMpi();
        var two = Ptm(2, Train("ranks", "--distributed", "--max-steps", "4"));
        Assert.True(two.ExitCode == 0, two.Output);
        Assert.Contains("ranks     2", two.Output);
        var one = Ptm(0, Train("single", "--max-steps", "4", "--set", "training.gradient_accumulation_steps=2"));
        Assert.True(one.ExitCode == 0, one.Output);

        string ranks = Path.Combine(root, "ranks"), single = Path.Combine(root, "single");
        Assert.Equal(Weights(Checkpoints.Latest(single)!), Weights(Checkpoints.Latest(ranks)!));
        Assert.Equal(Losses(single), Losses(ranks));
        Assert.Equal(Entries(single), Entries(ranks)); // rank 1 wrote nothing of its own
        Assert.Single(two.Output.Split('\n'), l => l.StartsWith("model saved in")); // and printed nothing

        var resumedOnOne = Ptm(1, Train("ranks", "--distributed", "--resume", "--max-steps", "6"));
        Assert.True(resumedOnOne.ExitCode == 0, resumedOnOne.Output);
        var resumedSingle = Ptm(0, Train("single", "--resume", "--max-steps", "6", "--set", "training.gradient_accumulation_steps=1"));
        Assert.True(resumedSingle.ExitCode == 0, resumedSingle.Output);
        Assert.Equal(Weights(Checkpoints.Latest(single)!), Weights(Checkpoints.Latest(ranks)!));
    }

    /// <summary>kill -9 of one rank ends the whole job (mpirun stops the others) with a non-zero exit and a message
    /// naming the rank; `--resume` then continues from the last checkpoint.</summary>
    [SkippableFact]
    public void AKilledRankStopsTheJobAndTheRunResumes()
    {
        SkipWithoutMpi();
        string run = Path.Combine(root, "killed");
        var killed = Ptm(2, Train("killed", "--distributed", "--max-steps", "1000000", "--set", "training.checkpoint_interval=2", "--set", "training.eval_interval=1000000"),
            process =>
            {
                var deadline = DateTime.UtcNow.AddSeconds(180);
                while (Checkpoints.Latest(run) is null && DateTime.UtcNow < deadline && !process.HasExited) Thread.Sleep(200);
                Assert.NotNull(Checkpoints.Latest(run));
                int victim = RankProcesses(run).Last();
                Process.GetProcessById(victim).Kill();
            }, timeoutSeconds: 60);
        Assert.NotEqual(0, killed.ExitCode);
        Assert.Contains("exited on signal 9", killed.Output);
        Assert.Empty(RankProcesses(run));

        int step = Checkpoints.LoadState(Checkpoints.Latest(run)!).Step;
        var resumed = Ptm(2, Train("killed", "--distributed", "--resume", "--max-steps", (step + 2).ToString()));
        Assert.True(resumed.ExitCode == 0, resumed.Output);
        Assert.Contains($"resuming at step {step}", resumed.Output);
    }

    /// <summary>The pids of ptm processes training into <paramref name="run"/> (the ranks, not mpirun).</summary>
    static List<int> RankProcesses(string run)
    {
        var pids = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid)) continue;
            string cmdline;
            try { cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")); }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            var args = cmdline.Split('\0');
            if (args.Contains(Cli) && args.Contains(run) && !args[0].EndsWith("mpirun")) pids.Add(pid);
        }
        pids.Sort();
        return pids;
    }

    static List<string> Losses(string run) =>
        File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Where(l => l.Contains("\"loss\"")).Select(l => l.Split("\"loss\":")[1].Split(',')[0]).ToList();

    static List<string> Entries(string run) =>
        Directory.EnumerateFileSystemEntries(run, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(run, p)).Order().ToList();
}
