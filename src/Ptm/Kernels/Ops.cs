using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Kernels;

/// <summary>
/// The operations our models are written in, one call each, with every choice of how to run them made here: our
/// fused kernels (<see cref="FusedKernels"/>, where autograd records float32 CPU tensors), libtorch's SDPA otherwise,
/// products in the bfloat16 compute type (<see cref="MixedPrecision"/>), and single-row products split over two
/// threads (<see cref="SplitRowProduct"/>). Every path computes the same function; they differ in speed and in the
/// last bits of float32 rounding.
/// </summary>
public static class Ops
{
    /// <summary>
    /// x·Wᵀ + b (…, in) → (…, out): in the current compute type (handed back in x's type); with
    /// <paramref name="singleRow"/> (the layer's cache) as two half products when x is one row and autograd is off; and
    /// from a transposed copy of W when x has at least <see cref="TransposedWeights.MinRows"/> rows, autograd is off and a <see cref="TransposedWeights"/> set is
    /// in use on this thread.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias, SplitRowProduct? singleRow = null) =>
        (MixedPrecision.Current is null ? singleRow?.TryForward(x, weight, bias) ?? TransposedWeights.Current?.TryForward(x, weight, bias) : null)
        ?? MixedPrecision.Linear(x, weight, bias);

    /// <summary>
    /// GELU (tanh approximation, GPT-2's) of <paramref name="layer"/>(x). Under autograd, on float32 CPU tensors with the
    /// kernels on, GELU is our kernel and the layer's bias gradient is summed in its backward pass (the product is
    /// computed with the bias detached), saving the linear layer's own pass over the rows.
    /// </summary>
    public static Tensor LinearGelu(Tensor x, Modeling.Linear layer)
    {
        if (layer.Bias is not { } bias || !FusedKernels.AppliesToProduct(x, layer.Weight))
            return functional.gelu(layer.forward(x), TorchSharp.Modules.GELU.Approximate.tanh);
        using var scope = NewDisposeScope();
        var h = MixedPrecision.Linear(x, layer.Weight, bias.detach());
        return FusedKernels.GeluWithBias(h, bias).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Causal multi-head self-attention of x (B, T, C) through the packed projection <paramref name="qkvProjection"/>
    /// (C → 3C, laid out [q | k | v]), heads merged back to (B, T, C); no output projection.
    /// <paramref name="cache"/> holds keys and values of earlier positions and receives this call's;
    /// <paramref name="mask"/> is boolean, true where query i may attend key j, broadcastable to (B, nh, T, past+T),
    /// and null means causal with query i at absolute position past+i (see <see cref="AttentionMasks"/>).
    /// <paramref name="dropout"/> is the attention-probability dropout (0 in eval).
    /// Training without cache, mask or dropout, up to <see cref="FusedKernels.MaxAttentionLength"/> positions, runs our
    /// kernel on the packed projection (the bias gradient summed in its backward pass); everything else libtorch's SDPA.
    /// </summary>
    public static Tensor LinearCausalAttention(Tensor x, Modeling.Linear qkvProjection, int nHead, double dropout,
                                               LayerKvCache? cache, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        if (cache is null && mask is null && dropout == 0 && x.size(1) <= FusedKernels.MaxAttentionLength
            && FusedKernels.AppliesToProduct(x, qkvProjection.Weight))
        {
            var bias = qkvProjection.Bias;
            var packed = MixedPrecision.Linear(x, qkvProjection.Weight, bias?.detach());   // (B, T, 3C)
            return FusedKernels.CausalAttention(packed, nHead, bias).MoveToOuterDisposeScope(); // (B, T, C)
        }
        var qkv = qkvProjection.forward(x);                                 // (B, T, 3C)
        var (q, k, v) = MultiHead.SplitPacked(qkv, nHead);                  // 3 × (B, nh, T, hs)
        return CausalAttention(q, k, v, dropout, cache, mask).MoveToOuterDisposeScope(); // (B, T, C)
    }

    /// <summary>
    /// Causal attention of queries q over keys k and values v, each (B, nh, T, hs), heads merged back to (B, T, C):
    /// the part of <see cref="LinearCausalAttention"/> after the projection, for models with separate q, k, v
    /// projections. <paramref name="cache"/> and <paramref name="mask"/> as there.
    /// </summary>
    public static Tensor CausalAttention(Tensor q, Tensor k, Tensor v, double dropout, LayerKvCache? cache, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        bool causal = mask is null;
        if (cache is not null)
        {
            long past = cache.Past;
            (k, v) = cache.Append(k, v);                                    // (B, nh, past+T, hs)
            if (past > 0 && mask is null)
            {
                // SDPA's causal flag aligns the triangle to the top left, which is wrong once keys precede the queries.
                causal = false;
                long T = q.size(2);
                if (T > 1) mask = AttentionMasks.Causal(T, past, q.device);
            }
        }
        return MultiHead.Attend(q, k, v, mask, causal, dropout).MoveToOuterDisposeScope(); // (B, T, C)
    }

    /// <summary>Dropout in training; in eval the identity, without a native call (it matters per token when decoding).</summary>
    public static Tensor Dropout(Tensor x, TorchSharp.Modules.Dropout dropout) => dropout.training ? dropout.forward(x) : x;

    /// <summary>
    /// Cross-entropy of <paramref name="logits"/> (N, V) against class ids <paramref name="targets"/> (N), rows whose
    /// target is -100 left out: the mean over the other rows, or their sum divided by <paramref name="normalizer"/> when
    /// given (so micro-batches of one accumulation step add up to the mean over all their tokens). Our kernel under
    /// autograd on float32 CPU logits, libtorch's otherwise.
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, double? normalizer = null)
    {
        if (FusedKernels.CrossEntropyApplies(logits, targets))
            return FusedKernels.CrossEntropy(logits, targets, normalizer);
        if (normalizer is null) return functional.cross_entropy(logits, targets, ignore_index: -100);
        return functional.cross_entropy(logits, targets, ignore_index: -100, reduction: Reduction.Sum) / normalizer.Value;
    }
}
