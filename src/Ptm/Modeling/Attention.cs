using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// Masked (causal) multi-head self-attention, GPT-2's <c>attn</c>: one projection to queries, keys and
/// values (<c>c_attn</c>), scaled dot-product attention per head, and an output projection (<c>c_proj</c>).
/// Field names are the state_dict keys and match Hugging Face's.
/// </summary>
public sealed class CausalSelfAttention : Module<Tensor, Tensor>
{
    readonly MixedLinear c_attn;
    readonly MixedLinear c_proj;
    readonly Dropout resid_dropout;
    readonly int nHead;
    readonly double attnPdrop;

    public CausalSelfAttention(GptConfig config) : base("attn")
    {
        nHead = config.NHead;
        attnPdrop = config.AttnPdrop;
        c_attn = new MixedLinear(config.NEmbd, 3 * config.NEmbd);
        c_proj = new MixedLinear(config.NEmbd, config.NEmbd);
        resid_dropout = Dropout(config.ResidPdrop);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <param name="x">(B, T, C)</param>
    /// <param name="cache">keys and values of earlier positions; this call appends its own</param>
    /// <param name="mask">boolean, true where query i may attend key j, broadcastable to (B, nh, T, past+T); null means
    /// causal with query i at absolute position past+i (see <see cref="AttentionMasks"/>)</param>
    public Tensor Forward(Tensor x, LayerKvCache? cache, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        if (cache is null && mask is null && (!training || attnPdrop == 0) && x.size(1) <= FusedKernels.MaxAttentionLength
            && FusedKernels.AppliesToProduct(x, c_attn.Weight))
        {
            // c_attn's bias gradient is summed in the kernel's backward pass, not by the linear layer's.
            var attended = FusedKernels.CausalAttention(c_attn.ForwardWithDetachedBias(x), nHead, c_attn.Bias); // (B, T, C)
            return Project(attended).MoveToOuterDisposeScope();
        }
        var qkv = c_attn.forward(x);                                        // (B, T, 3C)
        var (q, k, v) = MultiHead.SplitPacked(qkv, nHead);                  // 3 × (B, nh, T, hs)
        bool causal = mask is null;
        if (cache is not null)
        {
            long past = cache.Past;
            (k, v) = cache.Append(k, v);                                    // (B, nh, past+T, hs)
            if (past > 0 && mask is null)
            {
                // SDPA's causal flag aligns the triangle to the top left, which is wrong once keys precede the queries.
                causal = false;
                long T = x.size(1);
                if (T > 1) mask = AttentionMasks.Causal(T, past, x.device);
            }
        }
        var y = MultiHead.Attend(q, k, v, mask, causal, training ? attnPdrop : 0.0); // (B, T, C)
        return Project(y).MoveToOuterDisposeScope();
    }

    Tensor Project(Tensor y)
    {
        y = c_proj.forward(y);                                              // (B, T, C)
        // Dropout is the identity in eval; skipping the call saves a native op per layer and token when decoding.
        return resid_dropout.training ? resid_dropout.forward(y) : y;
    }
}

/// <summary>The boolean attention masks of causal decoding (true = may attend), built once per forward pass.</summary>
public static class AttentionMasks
{
    /// <summary>(T, past+T): query i sits at absolute position past+i and may see keys 0..past+i.</summary>
    public static Tensor Causal(long T, long past, Device device) =>
        ones(T, past + T, ScalarType.Bool, device).tril(past);

    /// <summary>
    /// (B, 1, T, past+T) for left-padded rows: causal, and only keys whose <paramref name="keyMask"/> (B, past+T) entry is
    /// true. Each query may also always see itself, so a padding query still has one key: a row with none would turn
    /// into NaNs in softmax and, through the next layer's keys and values, reach the real tokens.
    /// </summary>
    public static Tensor CausalWithKeys(Tensor keyMask, long T, long past)
    {
        using var scope = NewDisposeScope();
        long B = keyMask.size(0), keys = past + T;
        if (T == 1) return keyMask.view(B, 1, 1, keys).MoveToOuterDisposeScope();
        var causal = Causal(T, past, keyMask.device);                      // (T, keys)
        var self = causal.logical_and(ones(T, keys, ScalarType.Bool, keyMask.device).triu(past)); // key past+i for query i
        var allowed = causal.logical_and(keyMask.view(B, 1, 1, keys)).logical_or(self); // (B, 1, T, keys)
        return allowed.MoveToOuterDisposeScope();
    }
}

/// <summary>The part of multi-head attention every kind shares: heads in and out, and scaled dot products.</summary>
public static class MultiHead
{
    /// <summary>(B, T, C) to (B, nh, T, C/nh).</summary>
    public static Tensor Split(Tensor x, int nHead) => x.view(x.size(0), x.size(1), nHead, x.size(2) / nHead).transpose(1, 2);

    /// <summary>
    /// GPT-2's packed projection (B, T, 3C), laid out [q | k | v], to three (B, nh, T, C/nh) views: the same views as
    /// splitting first and then <see cref="Split"/>ting each part, in three native calls instead of seven.
    /// </summary>
    public static (Tensor Q, Tensor K, Tensor V) SplitPacked(Tensor qkv, int nHead)
    {
        long B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
        var parts = qkv.view(B, T, 3, nHead, C / nHead).permute(2, 0, 3, 1, 4).unbind(0); // 3 × (B, nh, T, hs)
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>
    /// softmax(q kᵀ / √d + mask) v per head, heads merged back to (B, T, C). <paramref name="mask"/> is boolean,
    /// true where a query may attend, broadcastable to (B, nh, Tq, Tk); <paramref name="dropout"/> must be 0 in eval.
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal, double dropout)
    {
        var y = functional.scaled_dot_product_attention(q, k, v, mask, dropout, is_casual: causal); // (B, nh, T, hs)
        long B = y.size(0), T = y.size(2), C = y.size(1) * y.size(3);
        // One query per row (decoding): (B, nh, 1, hs) already lies in memory as (B, 1, C).
        if (T == 1 && y.is_contiguous()) return y.view(B, 1, C);
        return y.transpose(1, 2).reshape(B, T, C);                         // (B, T, C)
    }
}
