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
    readonly int nEmbd;
    readonly double attnPdrop;

    public CausalSelfAttention(GptConfig config) : base("attn")
    {
        nHead = config.NHead;
        nEmbd = config.NEmbd;
        attnPdrop = config.AttnPdrop;
        c_attn = new MixedLinear(nEmbd, 3 * nEmbd);
        c_proj = new MixedLinear(nEmbd, nEmbd);
        resid_dropout = Dropout(config.ResidPdrop);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, LayerKvCache? cache)
    {
        using var scope = NewDisposeScope();
        var qkv = c_attn.forward(x);                                        // (B, T, 3C)
        var parts = qkv.split(nEmbd, 2);
        var q = MultiHead.Split(parts[0], nHead);                           // (B, nh, T, hs)
        var k = MultiHead.Split(parts[1], nHead);                           // (B, nh, T, hs)
        var v = MultiHead.Split(parts[2], nHead);                           // (B, nh, T, hs)

        Tensor? mask = null;
        bool causal = true;
        if (cache is not null)
        {
            long past = cache.Past;
            long T = x.shape[1];
            (k, v) = cache.Append(k, v);                                    // (B, nh, past+T, hs)
            if (past > 0)
            {
                causal = false;
                // Query i sits at absolute position past+i and may see keys 0..past+i.
                if (T > 1) mask = ones(T, past + T, ScalarType.Bool, x.device).tril(past);
            }
        }
        var y = MultiHead.Attend(q, k, v, mask, causal, training ? attnPdrop : 0.0); // (B, T, C)
        return resid_dropout.forward(c_proj.forward(y)).MoveToOuterDisposeScope();
    }
}

/// <summary>The part of multi-head attention every kind shares: heads in and out, and scaled dot products.</summary>
public static class MultiHead
{
    /// <summary>(B, T, C) to (B, nh, T, C/nh).</summary>
    public static Tensor Split(Tensor x, int nHead) => x.view(x.shape[0], x.shape[1], nHead, x.shape[2] / nHead).transpose(1, 2);

    /// <summary>
    /// softmax(q kᵀ / √d + mask) v per head, heads merged back to (B, T, C). <paramref name="mask"/> is boolean,
    /// true where a query may attend, broadcastable to (B, nh, Tq, Tk); <paramref name="dropout"/> must be 0 in eval.
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal, double dropout)
    {
        var y = functional.scaled_dot_product_attention(q, k, v, mask, dropout, is_casual: causal); // (B, nh, T, hs)
        long B = y.shape[0], T = y.shape[2];
        return y.transpose(1, 2).contiguous().view(B, T, -1);              // (B, T, C)
    }
}
