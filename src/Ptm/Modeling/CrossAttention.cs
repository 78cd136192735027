using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// Encoder–decoder attention (Vaswani et al. 2017, §3.2.3): the decoder's queries read keys and values projected from
/// the encoder's output, so every target position can look at the whole source. Hugging Face BART's
/// <c>encoder_attn</c> (<c>q_proj</c>, <c>k_proj</c>, <c>v_proj</c>, <c>out_proj</c>). The keys and values depend on
/// the source only: <see cref="KeysValues"/> computes them once per source, and every decoding step reuses them.
/// </summary>
public sealed class CrossAttention : Module<Tensor, Tensor, Tensor, Tensor?, Tensor>
{
    readonly Linear q_proj;
    readonly Linear k_proj;
    readonly Linear v_proj;
    readonly Linear out_proj;
    readonly int nHead;
    readonly double attentionDropout;

    /// <summary>A layer of width <paramref name="width"/> with <paramref name="nHead"/> heads and dropout
    /// <paramref name="attentionDropout"/> on the attention probabilities (training only).</summary>
    public CrossAttention(int width, int nHead, double attentionDropout) : base("encoder_attn")
    {
        q_proj = new Linear(width, width);
        k_proj = new Linear(width, width);
        v_proj = new Linear(width, width);
        out_proj = new Linear(width, width);
        this.nHead = nHead;
        this.attentionDropout = attentionDropout;
        RegisterComponents();
    }

    /// <summary>The encoder output (B, S, C) projected to keys and values, each (B, nh, S, hs).</summary>
    public (Tensor Keys, Tensor Values) KeysValues(Tensor memory)
    {
        using var scope = NewDisposeScope();
        var k = MultiHead.Split(k_proj.forward(memory), nHead);            // (B, nh, S, hs)
        var v = MultiHead.Split(v_proj.forward(memory), nHead);            // (B, nh, S, hs)
        return (k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope());
    }

    /// <summary>Decoder states x (B, T, C) attending over the source's <paramref name="keys"/> and
    /// <paramref name="values"/> (B, nh, S, hs), to (B, T, C). <paramref name="sourceMask"/> (B, 1, 1, S) is true at real
    /// source tokens; null means no padding.</summary>
    public override Tensor forward(Tensor x, Tensor keys, Tensor values, Tensor? sourceMask)
    {
        using var scope = NewDisposeScope();
        var q = MultiHead.Split(q_proj.forward(x), nHead);                 // (B, nh, T, hs)
        var y = MultiHead.Attend(q, keys, values, sourceMask, causal: false, training ? attentionDropout : 0.0); // (B, T, C)
        return out_proj.forward(y).MoveToOuterDisposeScope();
    }
}
