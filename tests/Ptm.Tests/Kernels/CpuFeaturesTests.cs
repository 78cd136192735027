using System.Runtime.Intrinsics.X86;
using Ptm.Kernels;

namespace Ptm.Tests.Kernels;

/// <summary>CpuFeatures follows what the JIT reports, so the switches that emulate an older CPU reach Ptm too.</summary>
public class CpuFeaturesTests
{
    [Fact]
    public void Avx512ImpliesAvx2Fma_AndMatchesTheJit()
    {
        Assert.Equal(Avx512F.IsSupported && Avx512DQ.IsSupported && Avx512BW.IsSupported && Avx512F.VL.IsSupported, CpuFeatures.HasAvx512);
        Assert.True(!CpuFeatures.HasAvx512 || CpuFeatures.HasAvx2Fma, "AVX-512 without AVX2+FMA");
    }

    /// <summary>With the .NET 10 switch DOTNET_EnableAVX512=0 (or the older DOTNET_EnableAVX512F=0, which .NET 10
    /// maps onto it) Ptm must see no AVX-512, as on an AVX2-only CPU.</summary>
    [SkippableFact]
    public void JitSwitchTurnsAvx512Off()
    {
        bool off = Environment.GetEnvironmentVariable("DOTNET_EnableAVX512") == "0"
            || Environment.GetEnvironmentVariable("DOTNET_EnableAVX512F") == "0";
        Skip.IfNot(off, "runs when DOTNET_EnableAVX512=0 (or DOTNET_EnableAVX512F=0) emulates an AVX2-only CPU");
        Assert.False(CpuFeatures.HasAvx512);
        Assert.False(Avx512F.IsSupported);
    }
}
