using System.Runtime.Intrinsics.X86;

namespace Ptm.Kernels;

/// <summary>
/// What this x86-64 CPU can execute, read once at run time (CPUID through .NET's hardware intrinsics), so that no
/// code path assumes an instruction set the machine lacks. Every fast path in Ptm (our kernels, bfloat16 products)
/// asks here before it runs.
/// </summary>
public static class CpuFeatures
{
    /// <summary>AVX-512 Foundation, DQ, BW and VL: what Ptm's AVX-512 kernels are compiled for.</summary>
    public static bool HasAvx512 { get; } =
        Avx512F.IsSupported && Avx512DQ.IsSupported && Avx512BW.IsSupported && Avx512F.VL.IsSupported;

    /// <summary>AVX2 with FMA3: what Ptm's AVX2 kernels are compiled for (Haswell, Zen and later).</summary>
    public static bool HasAvx2Fma { get; } = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Native bfloat16 dot products (AVX-512 BF16's <c>vdpbf16ps</c>, or AMX-BF16): without them libtorch computes a
    /// bfloat16 product by converting to float32 and back, which is slower than float32 itself.
    /// </summary>
    public static bool HasBf16DotProduct { get; } = ReadBf16();

    static bool ReadBf16()
    {
        if (!X86Base.IsSupported) return false;
        var (maxLeaf, _, _, _) = X86Base.CpuId(0, 0);
        if (maxLeaf < 7) return false;
        var (_, _, _, edx70) = X86Base.CpuId(7, 0);
        bool amxBf16 = (edx70 & (1 << 22)) != 0;
        var (eax71, _, _, _) = X86Base.CpuId(7, 1);
        bool avx512Bf16 = (eax71 & (1 << 5)) != 0 && Avx512F.IsSupported;
        return avx512Bf16 || amxBf16;
    }

    /// <summary>A one-line description for logs and benchmark reports, e.g. "AVX-512, AVX2+FMA, BF16 dot products".</summary>
    public static string Describe()
    {
        var parts = new List<string>();
        if (HasAvx512) parts.Add("AVX-512");
        if (HasAvx2Fma) parts.Add("AVX2+FMA");
        if (HasBf16DotProduct) parts.Add("BF16 dot products");
        return parts.Count == 0 ? "no AVX2" : string.Join(", ", parts);
    }
}
