using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Kernels;

/// <summary>
/// x·Wᵀ + b for several rows at once (a serving batch's decode step: 16 rows of one token), from a contiguous copy of
/// Wᵀ (in, out) instead of W (out, in). libtorch hands the usual product to MKL as a GEMM with a transposed second
/// operand, which at a few rows runs on one thread and far below the machine's speed (a 16 × 256 by 256 × 1024
/// product takes about three times as long as from the copy, on Zen 4 with two threads); from the copy it is a plain
/// GEMM. The result is the same function, rounded differently in the last bits of float32.
/// <para>The copies are made on first use and kept while the set lives, so the weights it has seen must not change
/// until it is disposed: the owner promises that (a serving batch, whose model does not train, keeps one set for its
/// busy period and disposes it when idle). Products use the set only inside <see cref="Use"/> (per thread, like
/// TorchSharp's dispose scopes), with autograd off, float32 CPU tensors, no other compute type
/// (<see cref="MixedPrecision"/>) and at least <see cref="MinRows"/> rows; a single row keeps <see cref="SplitRowProduct"/>'s path. The
/// copies take as much memory again as the weights they transpose.</para>
/// </summary>
public sealed class TransposedWeights : IDisposable
{
    [ThreadStatic] static TransposedWeights? current;

    readonly Dictionary<nint, Tensor> copies = [];   // weight's storage address → Wᵀ (in, out), contiguous
    bool disposed;

    /// <summary>Fewest rows a product takes from the copies. Below it libtorch's own product is as fast or faster: on
    /// the default GPT's decode step (2-core Zen 4, `Ptm.LoadTest --step-cost`) the copies lose at 2–8 rows and win
    /// from 12 (16 rows: 2.20 against 3.18 ms).</summary>
    public const int MinRows = 12;

    /// <summary>The set in effect on this thread, or null.</summary>
    public static TransposedWeights? Current => current;

    /// <summary>Transposed copies in the set (one per weight it has multiplied by).</summary>
    public int Count => copies.Count;

    /// <summary>Lets <see cref="Ops.Linear"/> use this set on this thread until the returned scope is disposed.</summary>
    public IDisposable Use()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var previous = current;
        current = this;
        return new Restore(previous);
    }

    /// <summary>The product from the transposed copy of <paramref name="weight"/> (out, in), or null when it should go
    /// the usual way: autograd on, fewer than <see cref="MinRows"/> rows, another dtype or device, or a compute type in effect.</summary>
    public Tensor? TryForward(Tensor x, Tensor weight, Tensor? bias)
    {
        long inFeatures = weight.size(1), outFeatures = weight.size(0);
        if (disposed || weight.dim() != 2 || x.numel() < MinRows * inFeatures || x.size(-1) != inFeatures
            || x.dtype != ScalarType.Float32 || weight.dtype != ScalarType.Float32 || x.device_type != DeviceType.CPU
            || weight.device_type != DeviceType.CPU || bias is { dtype: not ScalarType.Float32 }
            || is_grad_enabled() || MixedPrecision.Current is not null)
            return null;
        using var scope = NewDisposeScope();
        var transposed = Transposed(weight);                                        // (in, out)
        var rows = x.reshape(-1, inFeatures);                                       // (N, in)
        var y = bias is null ? rows.mm(transposed) : bias.addmm(rows, transposed);  // (N, out)
        var shape = x.shape.ToArray();
        shape[^1] = outFeatures;
        return y.view(shape).MoveToOuterDisposeScope();                             // (…, out)
    }

    Tensor Transposed(Tensor weight)
    {
        nint data = TensorMemory.Address(weight);
        if (copies.TryGetValue(data, out var copy) && copy.size(0) == weight.size(1) && copy.size(1) == weight.size(0))
            return copy;
        copy?.Dispose();
        using (no_grad())
            copy = weight.detach().t().contiguous().DetachFromDisposeScope();       // (in, out)
        copies[data] = copy;
        return copy;
    }

    /// <summary>Frees the copies; a later product goes the usual way until a new set is used.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        if (current == this) current = null;
        foreach (var c in copies.Values) c.Dispose();
        copies.Clear();
    }

    sealed class Restore(TransposedWeights? previous) : IDisposable
    {
        public void Dispose() => current = previous;
    }
}
