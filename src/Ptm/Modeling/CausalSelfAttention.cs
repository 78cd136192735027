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
public sealed class CausalSelfAttention : Module<Tensor, LayerKvCache?, Tensor?, Tensor>
{
    readonly Linear c_attn;
    readonly Linear c_proj;
    readonly Dropout resid_dropout;
    readonly int nHead;
    readonly double attnPdrop;

    /// <summary>The layer for <paramref name="config"/>'s width and heads.</summary>
    public CausalSelfAttention(GptConfig config) : base("attn")
    {
        nHead = config.NHead;
        attnPdrop = config.AttnPdrop;
        c_attn = new Linear(config.NEmbd, 3 * config.NEmbd);
        c_proj = new Linear(config.NEmbd, config.NEmbd);
        resid_dropout = Dropout(config.ResidPdrop);
        RegisterComponents();
    }

    /// <summary>(B, T, C) to (B, T, C).</summary>
    /// <param name="x">(B, T, C)</param>
    /// <param name="cache">keys and values of earlier positions, or null; this call appends its own</param>
    /// <param name="mask">boolean, true where query i may attend key j, broadcastable to (B, nh, T, past+T); null means
    /// causal with query i at absolute position past+i (see <see cref="AttentionMasks"/>)</param>
    public override Tensor forward(Tensor x, LayerKvCache? cache, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var y = Ops.LinearCausalAttention(x, c_attn, nHead, training ? attnPdrop : 0.0, cache, mask); // (B, T, C)
        y = Ops.Dropout(c_proj.forward(y), resid_dropout);                 // (B, T, C)
        return y.MoveToOuterDisposeScope();
    }
}
