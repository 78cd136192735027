using static TorchSharp.torch;

namespace Ptm.Kernels;

/// <summary>Where a CPU tensor's elements live, for code that hands them to native kernels or checks that storage
/// was not reallocated.</summary>
internal static class TensorMemory
{
    /// <summary>The address of <paramref name="t"/>'s first element (contiguous CPU tensors).</summary>
    public static unsafe nint Address(Tensor t)
    {
        fixed (byte* p = t.bytes) return (nint)p;
    }
}
