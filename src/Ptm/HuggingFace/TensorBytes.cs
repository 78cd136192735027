using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>
/// Access to a contiguous CPU tensor's storage as byte spans. TorchSharp's <c>Tensor.bytes</c> is limited to
/// int.MaxValue bytes, so larger tensors are visited as consecutive slices of a flat view (no copies are made).
/// </summary>
internal static class TensorBytes
{
    /// <summary>Largest slice handed out at once: 1 GiB, well inside a span's int length (tests lower it).</summary>
    internal static long SliceBytes { get; set; } = 1L << 30;

    public delegate void SpanAction(Span<byte> bytes);

    /// <summary>Calls <paramref name="action"/> with the tensor's bytes in order, in one or more spans.</summary>
    public static void ForEachSlice(Tensor contiguousCpu, SpanAction action)
    {
        if (contiguousCpu.device_type != DeviceType.CPU || !contiguousCpu.is_contiguous())
            throw new ArgumentException("expected a contiguous CPU tensor", nameof(contiguousCpu));
        long count = contiguousCpu.numel();
        if (count == 0) return;
        long elementSize = contiguousCpu.element_size();
        if (count * elementSize <= SliceBytes)
        {
            action(contiguousCpu.bytes);
            return;
        }
        using var scope = NewDisposeScope();
        Tensor flat = contiguousCpu.view(-1);
        long perSlice = SliceBytes / elementSize;
        for (long start = 0; start < count; start += perSlice)
        {
            using Tensor slice = flat.narrow(0, start, Math.Min(perSlice, count - start));
            action(slice.bytes);
        }
    }
}
