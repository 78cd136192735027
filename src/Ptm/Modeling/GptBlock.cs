using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// One Transformer decoder block. Pre-LN (GPT-2): x + attn(ln_1(x)), then x + mlp(ln_2(x)).
/// Post-LN (GPT-1, as in the original Transformer): ln_1(x + attn(x)), then ln_2(x + mlp(x)).
/// </summary>
public sealed class GptBlock : Module<Tensor, Tensor>
{
    readonly LayerNorm ln_1;
    readonly CausalSelfAttention attn;
    readonly LayerNorm ln_2;
    readonly GptMlp mlp;
    readonly bool preLayerNorm;

    public GptBlock(GptConfig config) : base("block")
    {
        ln_1 = LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        attn = new CausalSelfAttention(config);
        ln_2 = LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        mlp = new GptMlp(config);
        preLayerNorm = config.PreLayerNorm;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary>(B, T, C) to (B, T, C); <paramref name="mask"/> as in <see cref="CausalSelfAttention.Forward"/>.</summary>
    public Tensor Forward(Tensor x, LayerKvCache? cache, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        Tensor y;
        if (preLayerNorm)
        {
            y = x + attn.Forward(ln_1.forward(x), cache, mask);
            y = y + mlp.forward(ln_2.forward(y));
        }
        else
        {
            y = ln_1.forward(x + attn.Forward(x, cache, mask));
            y = ln_2.forward(y + mlp.forward(y));
        }
        return y.MoveToOuterDisposeScope();
    }
}
