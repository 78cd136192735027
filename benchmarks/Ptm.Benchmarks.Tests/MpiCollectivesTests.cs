using System.Diagnostics;
using Ptm.Distributed;

namespace Ptm.Benchmarks.Tests;

/// <summary>Every collective of our Open MPI binding on two real ranks (mpirun -np 2), against closed-form sums.</summary>
public class MpiCollectivesTests
{
    [SkippableFact]
    public void CollectivesGiveExactSumsOnTwoRanks()
    {
        string? mpirun = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "mpirun")).FirstOrDefault(File.Exists);
        Skip.If(mpirun is null, "Open MPI's mpirun is not on PATH (Debian: apt-get install openmpi-bin)");
        Skip.IfNot(MpiProcessGroup.IsAvailable(out string reason), reason);
        var psi = new ProcessStartInfo(mpirun!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "-np", "2", "--oversubscribe", "dotnet", Path.Combine(AppContext.BaseDirectory, "Ptm.Benchmarks.dll"), "allreduce", "--verify", "--no-timing" })
            psi.ArgumentList.Add(a);
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
        psi.Environment["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(180_000)) process.Kill(entireProcessTree: true);
        Assert.True(process.ExitCode == 0, stdout + stderr.Result);
        Assert.Contains("verified on 2 ranks: float32, float64, int64, bfloat16 sums, broadcast, barrier", stdout);
    }
}
