using System.Text.Json;
using Ptm.Benchmarks.Throughput;
using Ptm.Kernels;
using static TorchSharp.torch;

namespace Ptm.Benchmarks;

/// <summary>
/// Internal mode <c>malloc-probe</c>: on the process's main thread, allocates a 64 MiB tensor (above glibc's 32 MiB
/// ceiling for its mmap threshold), frees it, and prints the resident size before, during and after as JSON. With
/// glibc's defaults the block is a private mapping that free() unmaps, so the resident size falls back; with
/// <see cref="TorchRuntime.MallocTuned"/> it comes from the heap and stays there for later tensors. (Whether a later
/// tensor can reuse it depends on what else was allocated meanwhile: glibc pads each 64-byte-aligned block, so an
/// equal request fits a freed block only once it has coalesced with a neighbour; a training loop gets there within a
/// few steps, see docs/performance.md, "glibc malloc tuning".) glibc maps other threads' large blocks whatever mallopt says, so the effect
/// can only be observed on the main thread, where Ptm's CLI and this harness run torch;
/// benchmarks/Ptm.Benchmarks.Tests/MallocTuningTests.cs starts this mode as a child process.
/// </summary>
public static class MallocProbe
{
    public const long Elements = 16L * 1024 * 1024;   // float32: 64 MiB

    public sealed record Result(bool MallocTuned, double BeforeMib, double DuringMib, double AfterFreeMib);

    public static Result Run()
    {
        TorchRuntime.EnsureInitialized();
        double before = ProcessMemory.RssMib(), during;
        using (var t = ones(Elements))
            during = ProcessMemory.RssMib();
        return new Result(TorchRuntime.MallocTuned, before, during, ProcessMemory.RssMib());
    }

    public static string ToJson(Result r) => JsonSerializer.Serialize(r, ThroughputRunner.Json);
}
