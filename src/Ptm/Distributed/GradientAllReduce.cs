using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Distributed;

/// <summary>
/// Sums the gradients of a model's parameters over every rank of a <see cref="IProcessGroup"/>, as data-parallel
/// training does after each backward pass: the gradients are flattened into buckets of about
/// <see cref="BucketBytes"/> bytes (one collective per bucket instead of one per parameter) and each bucket is
/// all-reduced in place and copied back.
/// </summary>
/// <remarks>
/// Every rank must present the same buckets in the same order. The set of parameters that have a gradient can differ
/// between ranks when a part of the model sees no data on one of them (a head whose labels are all ignored); the
/// ranks first agree on that set, and a rank without a gradient for a parameter some other rank has contributes zeros.
/// Float32, float64 and bfloat16 gradients are supported.
/// </remarks>
internal sealed class GradientAllReduce(IProcessGroup group, IReadOnlyList<Tensor> parameters, long bucketBytes = GradientAllReduce.DefaultBucketBytes)
{
    /// <summary>PyTorch DDP's default bucket size, 25 MiB.</summary>
    public const long DefaultBucketBytes = 25L << 20;

    /// <summary>Bytes per bucket (the last one of a dtype may be smaller; a parameter larger than this is a bucket of its own).</summary>
    public long BucketBytes { get; } = bucketBytes;

    /// <summary>Bytes sent into collectives by the last <see cref="Run"/> (the gradients' size, whatever the algorithm).</summary>
    public long LastBytes { get; private set; }

    /// <summary>Collectives issued by the last <see cref="Run"/>, the agreement on which gradients exist included.</summary>
    public int LastCollectives { get; private set; }

    /// <summary>Replaces every parameter's gradient by its sum over the group.</summary>
    public void Run()
    {
        using var scope = NewDisposeScope();
        var present = new long[parameters.Count];
        for (int i = 0; i < parameters.Count; i++) present[i] = parameters[i].grad is null ? 0 : 1;
        group.AllReduceSum(present);
        LastCollectives = 1;
        LastBytes = 0;

        var bucket = new List<Tensor>();
        long bytes = 0;
        ScalarType? dtype = null;
        for (int i = 0; i < parameters.Count; i++)
        {
            if (present[i] == 0) continue;
            var p = parameters[i];
            var g = p.grad;
            if (g is null)
            {
                using (no_grad()) p.grad = zeros_like(p);
                g = p.grad!;
            }
            long size = g.numel() * g.element_size();
            if (bucket.Count > 0 && (g.dtype != dtype || bytes + size > BucketBytes))
            {
                Reduce(bucket);
                bucket.Clear();
                bytes = 0;
            }
            bucket.Add(g);
            bytes += size;
            dtype = g.dtype;
        }
        if (bucket.Count > 0) Reduce(bucket);
    }

    void Reduce(List<Tensor> grads)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var flat = cat(grads.Select(g => g.reshape(-1)).ToArray()).contiguous();
        var raw = flat.bytes;
        switch (flat.dtype)
        {
            case ScalarType.Float32: group.AllReduceSum(MemoryMarshal.Cast<byte, float>(raw)); break;
            case ScalarType.Float64: group.AllReduceSum(MemoryMarshal.Cast<byte, double>(raw)); break;
            case ScalarType.BFloat16: group.AllReduceSumBFloat16(MemoryMarshal.Cast<byte, ushort>(raw)); break;
            default: throw new NotSupportedException($"gradients of type {flat.dtype} cannot be all-reduced (float32, float64 or bfloat16)");
        }
        LastBytes += raw.Length;
        LastCollectives++;
        long offset = 0;
        foreach (var g in grads)
        {
            long n = g.numel();
            g.copy_(flat.narrow(0, offset, n).view_as(g));
            offset += n;
        }
    }
}
