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
    readonly Linear c_attn;
    readonly Linear c_proj;
    readonly Dropout resid_dropout;
    readonly int nHead;
    readonly int nEmbd;
    readonly double attnPdrop;

    public CausalSelfAttention(GptConfig config) : base("attn")
    {
        nHead = config.NHead;
        nEmbd = config.NEmbd;
        attnPdrop = config.AttnPdrop;
        c_attn = Linear(nEmbd, 3 * nEmbd);
        c_proj = Linear(nEmbd, nEmbd);
        resid_dropout = Dropout(config.ResidPdrop);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, LayerKvCache? cache)
    {
        long B = x.shape[0], T = x.shape[1];
        long hs = nEmbd / nHead;
        using var scope = NewDisposeScope();
        var qkv = c_attn.forward(x);                                        // (B, T, 3C)
        var parts = qkv.split(nEmbd, 2);
        var q = parts[0].view(B, T, nHead, hs).transpose(1, 2);             // (B, nh, T, hs)
        var k = parts[1].view(B, T, nHead, hs).transpose(1, 2);             // (B, nh, T, hs)
        var v = parts[2].view(B, T, nHead, hs).transpose(1, 2);             // (B, nh, T, hs)

        Tensor? mask = null;
        bool causal = true;
        if (cache is not null)
        {
            long past = cache.Past;
            (k, v) = cache.Append(k, v);                                    // (B, nh, past+T, hs)
            if (past > 0)
            {
                causal = false;
                // Query i sits at absolute position past+i and may see keys 0..past+i.
                if (T > 1) mask = ones(T, past + T, ScalarType.Bool, x.device).tril(past);
            }
        }
        double p = training ? attnPdrop : 0.0;                              // SDPA's dropout must be 0 in eval
        var y = functional.scaled_dot_product_attention(q, k, v, mask, p, is_casual: causal); // (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, nEmbd);              // (B, T, C)
        y = resid_dropout.forward(c_proj.forward(y));
        return y.MoveToOuterDisposeScope();
    }
}
