using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// One Transformer decoder block. Pre-LN (GPT-2): x + attn(ln_1(x)), then x + mlp(ln_2(x)).
/// Post-LN (GPT-1, as in the original Transformer): ln_1(x + attn(x)), then ln_2(x + mlp(x)).
/// </summary>
public sealed class GptBlock : Module<Tensor, LayerKvCache?, Tensor?, Tensor>
{
    readonly LayerNorm ln_1;
    readonly CausalSelfAttention attn;
    readonly LayerNorm ln_2;
    readonly GptMlp mlp;
    readonly bool preLayerNorm;

    /// <summary>The block for <paramref name="config"/>.</summary>
    public GptBlock(GptConfig config) : base("block")
    {
        ln_1 = LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        attn = new CausalSelfAttention(config);
        ln_2 = LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        mlp = new GptMlp(config);
        preLayerNorm = config.PreLayerNorm;
        RegisterComponents();
    }

    /// <summary>(B, T, C) to (B, T, C); <paramref name="cache"/> and <paramref name="mask"/> as in
    /// <see cref="CausalSelfAttention.forward"/> (both null in training).</summary>
    public override Tensor forward(Tensor x, LayerKvCache? cache, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        if (preLayerNorm)
        {
            x = x + attn.forward(ln_1.forward(x), cache, mask);
            x = x + mlp.forward(ln_2.forward(x));
        }
        else
        {
            x = ln_1.forward(x + attn.forward(x, cache, mask));
            x = ln_2.forward(x + mlp.forward(x));
        }
        return x.MoveToOuterDisposeScope();
    }
}
