using System.Text.Json;
using Ptm.Benchmarks.Throughput;
using Ptm.Runtime;
using static TorchSharp.torch;

namespace Ptm.Benchmarks;

/// <summary>
/// Internal mode <c>malloc-probe</c>: on the process's main thread, allocates and frees a 64 MiB tensor (above glibc's
/// 32 MiB ceiling for its mmap threshold) round after round, as a training step does with its logits, and prints
/// each round's minor page faults (from /proc/self/stat) as JSON. With the tuning the first rounds still fault: glibc
/// carves each 64-byte-aligned block (posix_memalign) with a little padding, so a freed block is a few bytes too
/// small for the next request until freed neighbours coalesce; after that the pages are reused. glibc serves large blocks of other threads' arenas by mmap whatever mallopt says, so
/// <see cref="TorchRuntime.MallocTuned"/> can only be observed on the main thread, where Ptm's CLI and this harness
/// run torch; tests/Ptm.Tests/MallocTuningTests.cs starts this mode as a child process.
/// </summary>
public static class MallocProbe
{
    public const long Elements = 16L * 1024 * 1024;   // float32: 64 MiB, 16,384 pages of 4 KiB
    public const int DefaultRounds = 16;

    public sealed record Result(bool MallocTuned, long[] MinorFaultsPerRound, double PeakRssMib);

    public static Result Run()
    {
        TorchRuntime.EnsureInitialized();
        var faults = new long[DefaultRounds];
        for (int round = 0; round < faults.Length; round++)
        {
            long before = MinorFaults();
            using (var t = ones(Elements)) { }
            faults[round] = MinorFaults() - before;
        }
        return new Result(TorchRuntime.MallocTuned, faults, ProcessMemory.PeakRssMib());
    }

    /// <summary>minflt, field 10 of /proc/self/stat.</summary>
    static long MinorFaults()
    {
        string stat = File.ReadAllText("/proc/self/stat");
        return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[7]);
    }

    public static string ToJson(Result r) => JsonSerializer.Serialize(r, ThroughputRunner.Json);
}
