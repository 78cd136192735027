using System.Diagnostics;
using System.Text.Json;
using Ptm.Benchmarks;
using Ptm.Benchmarks.Throughput;

namespace Ptm.Tests;

/// <summary>
/// TorchRuntime's malloc settings: a freed large tensor keeps its pages for the next one instead of being unmapped
/// and page-faulted in again. Measured in a child process (Ptm.Benchmarks malloc-probe) because only the main
/// thread's arena honours the settings, and xunit runs tests on pool threads.
/// </summary>
public class MallocTuningTests
{
    static MallocProbe.Result Probe(bool tuning)
    {
        string exe = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "Ptm.Benchmarks.exe" : "Ptm.Benchmarks");
        var start = new ProcessStartInfo(exe, ["malloc-probe"]) { RedirectStandardOutput = true, UseShellExecute = false };
        if (tuning) start.Environment.Remove("PTM_MALLOC_TUNING");
        else start.Environment["PTM_MALLOC_TUNING"] = "0";
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return JsonSerializer.Deserialize<MallocProbe.Result>(output, ThroughputRunner.Json)!;
    }

    [Fact]
    public void RepeatedLargeTensorsStopFaultingInPages_OnlyWithTheTuning()
    {
        if (!OperatingSystem.IsLinux()) return;
        const long pages = MallocProbe.Elements * sizeof(float) / 4096;
        static string Show(MallocProbe.Result r) => string.Join(", ", r.MinorFaultsPerRound);

        // Tuned: once freed blocks have coalesced (a few rounds; see MallocProbe), the pages are reused.
        var tuned = Probe(tuning: true);
        Assert.True(tuned.MallocTuned);
        Assert.True(tuned.MinorFaultsPerRound[0] > pages / 2, $"the first tensor faults its pages in ({Show(tuned)})");
        Assert.All(tuned.MinorFaultsPerRound[^4..], f => Assert.True(f < pages / 10, $"later tensors reuse the pages ({Show(tuned)})"));

        // glibc's default: blocks above its 32 MiB mmap-threshold ceiling are mapped afresh and unmapped on free.
        var plain = Probe(tuning: false);
        Assert.False(plain.MallocTuned);
        Assert.All(plain.MinorFaultsPerRound, f => Assert.True(f > pages / 2, $"without the tuning every round faults again ({Show(plain)})"));
    }
}
