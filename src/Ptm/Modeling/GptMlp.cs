using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>Position-wise feed-forward network: expand (<c>c_fc</c>), GELU with the tanh approximation as in GPT-2, project back (<c>c_proj</c>).</summary>
public sealed class GptMlp : Module<Tensor, Tensor>
{
    readonly Linear c_fc;
    readonly Linear c_proj;
    readonly Dropout dropout;

    /// <summary>The network for <paramref name="config"/>'s width and inner size.</summary>
    public GptMlp(GptConfig config) : base("mlp")
    {
        c_fc = new Linear(config.NEmbd, config.InnerSize);
        c_proj = new Linear(config.InnerSize, config.NEmbd);
        dropout = Dropout(config.ResidPdrop);
        RegisterComponents();
    }

    /// <summary>(B, T, C) to (B, T, C).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = Ops.LinearGelu(x, c_fc);                                   // (B, T, 4C): gelu(c_fc(x))
        var y = Ops.Dropout(c_proj.forward(h), dropout);                   // (B, T, C)
        return y.MoveToOuterDisposeScope();
    }
}
