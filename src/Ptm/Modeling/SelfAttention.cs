using Ptm.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// Multi-head self-attention with separate query, key, value and output projections (<c>q_proj</c>, <c>k_proj</c>,
/// <c>v_proj</c>, <c>out_proj</c>, Hugging Face BART's names): bidirectional in an encoder, causal (with the KV cache)
/// in a decoder. The heads and scaled dot products are <see cref="MultiHead"/>'s, as in GPT's and BERT's attention.
/// </summary>
public sealed class SelfAttention : Module<Tensor, Tensor?, Tensor>
{
    readonly Linear q_proj;
    readonly Linear k_proj;
    readonly Linear v_proj;
    readonly Linear out_proj;
    readonly int nHead;
    readonly double attentionDropout;

    /// <summary>A layer of width <paramref name="width"/> with <paramref name="nHead"/> heads and dropout
    /// <paramref name="attentionDropout"/> on the attention probabilities (training only).</summary>
    public SelfAttention(int width, int nHead, double attentionDropout) : base("self_attn")
    {
        q_proj = new Linear(width, width);
        k_proj = new Linear(width, width);
        v_proj = new Linear(width, width);
        out_proj = new Linear(width, width);
        this.nHead = nHead;
        this.attentionDropout = attentionDropout;
        RegisterComponents();
    }

    /// <summary>Bidirectional: (B, T, C) to (B, T, C). <paramref name="mask"/> is boolean, true where query i may attend
    /// key j, broadcastable to (B, nh, T, T) (a padding mask is (B, 1, 1, T)); null lets every query see every key.</summary>
    public override Tensor forward(Tensor x, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = Project(x);                                        // 3 × (B, nh, T, hs)
        var y = MultiHead.Attend(q, k, v, mask, causal: false, training ? attentionDropout : 0.0); // (B, T, C)
        return out_proj.forward(y).MoveToOuterDisposeScope();
    }

    /// <summary>Causal: (B, T, C) to (B, T, C), query i at absolute position past+i. <paramref name="cache"/> holds the
    /// keys and values of earlier positions and receives this call's; <paramref name="mask"/> as in
    /// <see cref="Ops.CausalAttention"/> (null: causal over every key).</summary>
    public Tensor Causal(Tensor x, LayerKvCache? cache, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = Project(x);                                        // 3 × (B, nh, T, hs)
        var y = Ops.CausalAttention(q, k, v, training ? attentionDropout : 0.0, cache, mask); // (B, T, C)
        return out_proj.forward(y).MoveToOuterDisposeScope();
    }

    (Tensor Q, Tensor K, Tensor V) Project(Tensor x) =>
        (MultiHead.Split(q_proj.forward(x), nHead), MultiHead.Split(k_proj.forward(x), nHead), MultiHead.Split(v_proj.forward(x), nHead));
}
