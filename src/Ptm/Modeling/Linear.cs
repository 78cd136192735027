using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// A linear layer, y = x·Wᵀ + b, with parameters <c>weight</c> (out, in) and <c>bias</c> (out) as torch.nn.Linear's,
/// so state_dict keys do not change. Its product goes through <see cref="Ops.Linear"/>: in the compute type of
/// <see cref="MixedPrecision"/>, and for a single row without autograd as two half products (<see cref="SplitRowProduct"/>).
/// Ops that fuse the product with what follows (<see cref="Ops.LinearGelu"/>, <see cref="Ops.LinearCausalAttention"/>)
/// read <see cref="Weight"/> and <see cref="Bias"/> themselves.
/// </summary>
public sealed class Linear : Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly Parameter? bias;
    readonly SplitRowProduct singleRow = new();

    /// <summary>A layer from <paramref name="inFeatures"/> to <paramref name="outFeatures"/>, initialised as
    /// torch.nn.Linear's: U(-1/√in, 1/√in) for weight and bias (our models re-initialise anyway).</summary>
    public Linear(long inFeatures, long outFeatures, bool hasBias = true) : base("Linear")
    {
        double bound = 1.0 / Math.Sqrt(inFeatures);
        weight = new Parameter(empty(outFeatures, inFeatures).uniform_(-bound, bound));
        if (hasBias) bias = new Parameter(empty(outFeatures).uniform_(-bound, bound));
        RegisterComponents();
    }

    /// <summary>(…, in) to (…, out).</summary>
    public override Tensor forward(Tensor x) => Ops.Linear(x, weight, bias, singleRow);

    /// <summary>The weight (out, in).</summary>
    public Tensor Weight => weight;

    /// <summary>The bias (out), or null.</summary>
    public Tensor? Bias => bias;

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) singleRow.Dispose();
        base.Dispose(disposing);
    }
}
