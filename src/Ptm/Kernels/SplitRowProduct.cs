using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Kernels;

/// <summary>
/// x·Wᵀ (+ b) for a single row x, as two half products run by one batched matrix product. With one row the product
/// is a matrix-vector product, bound by reading W from memory, and MKL runs it on one thread whatever the thread
/// count: during batch-1 decoding every layer's weights stream through one core while the other waits. Viewing W's
/// rows as two halves (2, out/2, in) makes it a batch of two products, which MKL's batched GEMM spreads over two
/// threads. Every output is still the same dot product from the same kernel, so the result is bit for bit that of
/// <see cref="nn.functional.linear"/> (checked by a test, as it rests on MKL's kernels). Below 400 multiply-adds per
/// half, libtorch computes a batched product with its own loop instead of MKL (aten's bmm_out_or_baddbmm_), which
/// rounds differently, so such small products are left alone.
/// </summary>
public sealed class SplitRowProduct : IDisposable
{
    const long MinimumHalfSize = 400;

    nint weightData;                      // the weight storage the cached views belong to
    Tensor? weightHalves;                 // (2, in, out/2): W's two row halves, transposed views
    nint biasData;
    Tensor? biasHalves;                   // (2, 1, out/2)

    /// <summary>The product, or null when it should go the usual way: several rows, one thread, autograd on (training),
    /// another compute type, or an odd output width.</summary>
    public Tensor? TryForward(Tensor x, Tensor weight, Tensor? bias)
    {
        long inFeatures = weight.size(1), outFeatures = weight.size(0);
        if (outFeatures % 2 != 0 || inFeatures * (outFeatures / 2) < MinimumHalfSize || x.numel() != inFeatures
            || x.dtype != weight.dtype || is_grad_enabled() || get_num_threads() < 2)
            return null;
        using var scope = NewDisposeScope();
        var halves = Halves(weight);
        // The row, once per half; a row of up to three dimensions (all but the last of size 1) expands as it is.
        var rows = (x.dim() <= 3 ? x : x.reshape(1, 1, inFeatures)).expand(2, 1, inFeatures);
        var y = rows.bmm(halves);                                          // (2, 1, out/2)
        if (bias is not null) y.add_(BiasHalves(bias));
        var shape = new long[x.dim()];
        Array.Fill(shape, 1L);
        shape[^1] = outFeatures;
        return y.view(shape).MoveToOuterDisposeScope();                    // (…, out): the halves are adjacent in memory
    }

    Tensor Halves(Tensor weight)
    {
        nint data = TensorMemory.Address(weight);
        if (weightHalves is null || data != weightData)
        {
            weightHalves?.Dispose();
            long outFeatures = weight.size(0), inFeatures = weight.size(1);
            weightHalves = weight.detach().view(2, outFeatures / 2, inFeatures).transpose(1, 2).DetachFromDisposeScope();
            weightData = data;
        }
        return weightHalves;
    }

    Tensor BiasHalves(Tensor bias)
    {
        nint data = TensorMemory.Address(bias);
        if (biasHalves is null || data != biasData)
        {
            biasHalves?.Dispose();
            biasHalves = bias.detach().view(2, 1, bias.size(0) / 2).DetachFromDisposeScope();
            biasData = data;
        }
        return biasHalves;
    }

    /// <summary>Releases the cached views (which keep the weight's storage alive).</summary>
    public void Dispose()
    {
        weightHalves?.Dispose();
        biasHalves?.Dispose();
        weightHalves = biasHalves = null;
    }
}
