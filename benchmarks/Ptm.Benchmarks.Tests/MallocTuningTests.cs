using System.Diagnostics;
using System.Text.Json;
using Ptm.Benchmarks.Throughput;

namespace Ptm.Benchmarks.Tests;

/// <summary>
/// TorchRuntime.TuneMallocForTraining (called by the ptm command and the benchmark harness, never by loading the library):
/// a freed large tensor's memory stays in the process for later tensors instead of
/// being unmapped (and faulted in and zeroed again next time). Measured in a child process (Ptm.Benchmarks
/// malloc-probe) because only the main thread's arena honours the settings, and xunit runs tests on pool threads.
/// </summary>
public class MallocTuningTests
{
    static MallocProbe.Result Probe(bool tuning, string mode = "malloc-probe")
    {
        var start = new ProcessStartInfo(TestPaths.BenchmarksExe, [mode]) { RedirectStandardOutput = true, UseShellExecute = false };
        if (tuning) start.Environment.Remove("PTM_MALLOC_TUNING");
        else start.Environment["PTM_MALLOC_TUNING"] = "0";
        using var p = Process.Start(start)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return JsonSerializer.Deserialize<MallocProbe.Result>(output, ThroughputRunner.Json)!;
    }

    [SkippableFact]
    public void FreedLargeTensorsStayInTheProcess_OnlyWithTheTuning()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the malloc tuning sets glibc's mallopt thresholds, which exist only on Linux");
        const double mib = MallocProbe.Elements * sizeof(float) / (1024.0 * 1024.0);

        var tuned = Probe(tuning: true);
        Assert.True(tuned.MallocTuned);
        Assert.True(tuned.DuringMib - tuned.BeforeMib > 0.75 * mib, $"the tensor's pages are resident ({tuned})");
        Assert.True(tuned.DuringMib - tuned.AfterFreeMib < 0.1 * mib, $"freeing it keeps them in the heap ({tuned})");

        // glibc's default: blocks above its 32 MiB mmap-threshold ceiling are mapped afresh and unmapped on free.
        var plain = Probe(tuning: false);
        Assert.False(plain.MallocTuned);
        Assert.True(plain.DuringMib - plain.AfterFreeMib > 0.75 * mib, $"without the tuning free() unmaps them ({plain})");
    }

    [SkippableFact]
    public void LoadingTheLibraryAloneLeavesMallocAsItWas()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "glibc's malloc settings exist only on Linux");
        const double mib = MallocProbe.Elements * sizeof(float) / (1024.0 * 1024.0);
        // The host never calls TorchRuntime.TuneMallocForTraining: the process keeps glibc's defaults.
        var library = Probe(tuning: true, mode: "malloc-probe-library");
        Assert.False(library.MallocTuned);
        Assert.True(library.DuringMib - library.AfterFreeMib > 0.75 * mib, $"free() unmaps the block as glibc does by default ({library})");
    }
}
