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

    /// <summary>
    /// The compute type for a <c>training.precision</c> value on a CPU that has (<paramref name="hasBf16DotProduct"/>)
    /// or lacks native bfloat16 dot products (<see cref="CpuFeatures.HasBf16DotProduct"/>), and a warning when the
    /// choice is likely slower than float32: "float32" → null; "bfloat16" → bfloat16 (warned without native bf16 dot
    /// products, where libtorch converts each product to float32 and back); "auto" → bfloat16 where the CPU has them,
    /// else null. Anything else is null; the config's validation rejects it first.
    /// </summary>
    public static (ScalarType? Compute, string? Warning) Resolve(string precision, bool hasBf16DotProduct) => precision switch
    {
        "bfloat16" when !hasBf16DotProduct => (ScalarType.BFloat16,
            "training.precision is \"bfloat16\" but this CPU has no native bfloat16 dot products (AVX-512 BF16 or AMX-BF16): "
            + "libtorch converts every bfloat16 product to float32 and back, usually slower than float32; \"auto\" picks float32 here"),
        "bfloat16" => (ScalarType.BFloat16, null),
        "auto" => (hasBf16DotProduct ? ScalarType.BFloat16 : null, null),
        _ => (null, null),
    };

    sealed class Restore(ScalarType? previous) : IDisposable
    {
        public void Dispose() => compute = previous;
    }
}
