using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Kernels;

/// <summary>
/// bfloat16 mixed precision for CPUs with AVX-512 BF16 (TorchSharp has no autocast). Inside <see cref="Use"/> the
/// projections of our models (<see cref="MixedLinear"/>, the tied LM/MLM heads) multiply in the compute type and
/// hand back float32; weights, optimizer state, LayerNorm, softmax and the loss stay float32, and autograd
/// returns float32 gradients to the float32 master weights. bfloat16 keeps float32's exponent range, so no loss
/// scaling is needed. The setting is per thread, like TorchSharp's dispose scopes.
/// </summary>
public static class MixedPrecision
{
    [ThreadStatic] static ScalarType? compute;

    /// <summary>The compute type in effect on this thread; null is plain float32.</summary>
    public static ScalarType? Current => compute;

    /// <summary>Multiplies in <paramref name="type"/> until the returned scope is disposed (null: float32).</summary>
    public static IDisposable Use(ScalarType? type)
    {
        var previous = compute;
        compute = type;
        return new Restore(previous);
    }

    /// <summary>x·Wᵀ + b, in the current compute type, returned in x's type.</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias)
    {
        if (compute is not ScalarType t || x.dtype == t) return functional.linear(x, weight, bias);
        using var scope = NewDisposeScope();
        var y = functional.linear(x.to(t), weight.to(t), bias?.to(t));
        return y.to(x.dtype).MoveToOuterDisposeScope();
    }

    sealed class Restore(ScalarType? previous) : IDisposable
    {
        public void Dispose() => compute = previous;
    }
}

/// <summary>
/// A linear layer (parameters <c>weight</c> (out, in) and <c>bias</c>, as torch.nn.Linear, so state_dict keys do not
/// change) whose product follows <see cref="MixedPrecision"/>.
/// </summary>
public sealed class MixedLinear : Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly Parameter? bias;

    public MixedLinear(long inFeatures, long outFeatures, bool hasBias = true) : base("Linear")
    {
        // torch.nn.Linear's default: U(-1/√in, 1/√in) for weight and bias. Our models re-initialise anyway.
        double bound = 1.0 / Math.Sqrt(inFeatures);
        weight = new Parameter(empty(outFeatures, inFeatures).uniform_(-bound, bound));
        if (hasBias) bias = new Parameter(empty(outFeatures).uniform_(-bound, bound));
        RegisterComponents();
    }

    readonly SplitRowProduct singleRow = new();

    public override Tensor forward(Tensor x) =>
        (MixedPrecision.Current is null ? singleRow.TryForward(x, weight, bias) : null) ?? MixedPrecision.Linear(x, weight, bias);

    /// <summary>The weight (out, in).</summary>
    public Tensor Weight => weight;

    /// <summary>The bias (out), or null.</summary>
    public Tensor? Bias => bias;

    /// <summary>x·Wᵀ + b with b detached: for a fused kernel that returns <see cref="Bias"/>'s gradient itself.</summary>
    public Tensor ForwardWithDetachedBias(Tensor x)
    {
        using var scope = NewDisposeScope();
        return MixedPrecision.Linear(x, weight, bias?.detach()).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) singleRow.Dispose();
        base.Dispose(disposing);
    }
}
