using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Kernels;

/// <summary>
/// bfloat16 mixed precision for CPUs with AVX-512 BF16 (TorchSharp has no autocast). Inside <see cref="Use"/> the
/// projections of our models (<see cref="Modeling.Linear"/>, the tied LM/MLM heads) multiply in the compute type and
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
