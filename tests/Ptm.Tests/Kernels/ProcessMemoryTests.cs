using Ptm.Kernels;

namespace Ptm.Tests.Kernels;

/// <summary>The process-memory probes (<see cref="ProcessMemory"/>, <see cref="NativeHeap"/>) against a tensor of known size.</summary>
public class ProcessMemoryTests
{
    [SkippableFact]
    public void NativeHeapCountsALiveTensorAsInUse_AndItsReleaseAsNot()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "mallinfo2 is glibc's");
        const double mib = 64;                      // large against other work in the test host (seen: 2–3 MiB at a time)
        using (TorchSharp.torch.ones(1024)) { }     // libtorch's one-time set-up allocates too: not part of what is measured
        GC.Collect();                               // tensors of earlier tests freed by finalizers now, not mid-measurement
        GC.WaitForPendingFinalizers();
        // Other test classes run in parallel and allocate or free meanwhile: a reading they disturb is taken again (three
        // tries); a probe that does not see the tensor fails every time.
        var readings = new List<string>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var before = NativeHeap.Read()!.Value;
            double during;
            using (var t = TorchSharp.torch.ones((long)(mib * 1024 * 1024 / sizeof(float))))
                during = NativeHeap.Read()!.Value.InUseMib;
            var after = NativeHeap.Read()!.Value;
            double grew = during - before.InUseMib, released = during - after.InUseMib;
            if (grew >= 0.9 * mib && grew <= 1.2 * mib && released >= 0.9 * mib && released <= 1.2 * mib) return;
            readings.Add($"grew {grew:F1}, released {released:F1}");
        }
        Assert.Fail($"heap in use did not follow a {mib} MiB tensor (MiB): {string.Join("; ", readings)}");
    }

    /// <summary>
    /// Resident size follows memory as it is touched. The memory is an anonymous mapping of its own rather than a tensor:
    /// CLI tests in this host call TorchRuntime.TuneMallocForTraining, after which malloc keeps freed blocks resident and
    /// a new tensor may reuse them without growing the resident size.
    /// </summary>
    [SkippableFact]
    public void ResidentSizeGrowsByTouchedMemory_AndThePeakIsAtLeastTheCurrentSize()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "/proc/self/status is Linux only");
        const long mib = 64, bytes = mib * 1024 * 1024;
        var readings = new List<string>();
        for (int attempt = 0; attempt < 3; attempt++)   // parallel tests may free memory during a reading: take it again
        {
            double before = ProcessMemory.RssMib();
            Assert.True(before > 0, "VmRSS read");
            double during;
            using (var map = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateNew(null, bytes))
            using (var view = map.CreateViewAccessor())
            {
                for (long offset = 0; offset < bytes; offset += 4096) view.Write(offset, (byte)1);   // every page written
                during = ProcessMemory.RssMib();
            }
            Assert.True(ProcessMemory.PeakRssMib() >= during - 1, "VmHWM is at least VmRSS");
            if (during - before > 0.75 * mib) return;
            readings.Add($"{before:F0} -> {during:F0}");
        }
        Assert.Fail($"resident size did not grow by {mib} MiB of touched memory (MiB): {string.Join("; ", readings)}");
    }
}
