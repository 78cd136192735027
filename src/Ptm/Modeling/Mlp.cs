using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>Position-wise feed-forward network: expand (<c>c_fc</c>), GELU with the tanh approximation as in GPT-2, project back (<c>c_proj</c>).</summary>
public sealed class Mlp : Module<Tensor, Tensor>
{
    readonly MixedLinear c_fc;
    readonly MixedLinear c_proj;
    readonly Dropout dropout;

    public Mlp(GptConfig config) : base("mlp")
    {
        c_fc = new MixedLinear(config.NEmbd, config.InnerSize);
        c_proj = new MixedLinear(config.InnerSize, config.NEmbd);
        dropout = Dropout(config.ResidPdrop);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        Tensor h;                                                          // (B, T, 4C)
        if (c_fc.Bias is { } bias && FusedKernels.AppliesToProduct(x, c_fc.Weight))
            h = FusedKernels.GeluWithBias(c_fc.ForwardWithDetachedBias(x), bias); // the bias's gradient summed in GELU's backward pass
        else
        {
            h = c_fc.forward(x);
            h = FusedKernels.Applies(h) ? FusedKernels.Gelu(h) : functional.gelu(h, TorchSharp.Modules.GELU.Approximate.tanh);
        }
        var y = c_proj.forward(h);                                         // (B, T, C)
        if (dropout.training) y = dropout.forward(y);                      // the identity in eval: no native call
        return y.MoveToOuterDisposeScope();
    }
}
