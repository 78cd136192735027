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
        var before = NativeHeap.Read()!.Value;
        double during;
        using (var t = TorchSharp.torch.ones((long)(mib * 1024 * 1024 / sizeof(float))))
            during = NativeHeap.Read()!.Value.InUseMib;
        var after = NativeHeap.Read()!.Value;
        Assert.InRange(during - before.InUseMib, 0.9 * mib, 1.2 * mib);
        Assert.InRange(during - after.InUseMib, 0.9 * mib, 1.2 * mib);
    }

    [SkippableFact]
    public void ResidentSizeGrowsByATouchedTensor_AndThePeakIsAtLeastTheCurrentSize()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "/proc/self/status is Linux only");
        const double mib = 64;
        double before = ProcessMemory.RssMib();
        Assert.True(before > 0, "VmRSS read");
        double during;
        using (var t = TorchSharp.torch.ones((long)(mib * 1024 * 1024 / sizeof(float))))   // ones: every page written
            during = ProcessMemory.RssMib();
        Assert.True(during - before > 0.75 * mib, $"resident size {before:F0} -> {during:F0} MiB with a {mib} MiB tensor");
        Assert.True(ProcessMemory.PeakRssMib() >= during - 1, "VmHWM is at least VmRSS");
    }
}
