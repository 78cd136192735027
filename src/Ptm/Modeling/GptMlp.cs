using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>Position-wise feed-forward network: expand (<c>c_fc</c>), GELU with the tanh approximation as in GPT-2, project back (<c>c_proj</c>).</summary>
public sealed class GptMlp : Module<Tensor, Tensor>
{
    readonly MixedLinear c_fc;
    readonly MixedLinear c_proj;
    readonly Dropout dropout;

    public GptMlp(GptConfig config) : base("mlp")
    {
        c_fc = new MixedLinear(config.NEmbd, config.InnerSize);
        c_proj = new MixedLinear(config.InnerSize, config.NEmbd);
        dropout = Dropout(config.ResidPdrop);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        // With the kernels, c_fc's bias gradient is summed in GELU's backward pass instead of a pass of its own.
        var h = c_fc.Bias is { } bias && FusedKernels.AppliesToProduct(x, c_fc.Weight)
            ? FusedKernels.GeluWithBias(c_fc.ForwardWithDetachedBias(x), bias)
            : functional.gelu(c_fc.forward(x), TorchSharp.Modules.GELU.Approximate.tanh); // (B, T, 4C)
        var y = c_proj.forward(h);                                         // (B, T, C)
        if (dropout.training) y = dropout.forward(y);                      // the identity in eval: no native call
        return y.MoveToOuterDisposeScope();
    }
}
