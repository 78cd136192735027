using System.Numerics;

namespace Ptm.StaticVectors;

/// <summary>
/// Skip-gram with negative sampling (Mikolov et al. 2013): for a centre word with input vector v and a target word
/// with output vector u, the loss is −log σ(v·u) when the target is a true context word and −log σ(−v·u) when it is a
/// noise sample. One training example is a centre word, one context word and k noise words; its loss is the sum of
/// the k + 1 terms. Generic so that tests check the gradient in double while training runs in float.
/// </summary>
public static class SkipGramObjective
{
    /// <summary>The loss of one (centre, target) term: −log σ(s) for a true context word, −log σ(−s) for a noise word, s = v·u.</summary>
    public static T Loss<T>(ReadOnlySpan<T> input, ReadOnlySpan<T> output, bool positive) where T : struct, IFloatingPointIeee754<T>
    {
        T s = VectorOps.Dot(input, output);
        return Softplus(positive ? -s : s);
    }

    /// <summary>
    /// One term's stochastic-gradient step, as in word2vec.c: with g = ∂loss/∂s = σ(s) − label, adds g·u (the
    /// gradient for the input vector, evaluated before u moves) to <paramref name="inputGradient"/>, then moves the
    /// output vector u by −<paramref name="learningRate"/>·g·v. The caller applies the summed input gradient after
    /// all of the example's terms, so for distinct targets the example takes an exact gradient step. Returns the
    /// term's loss before the step.
    /// </summary>
    public static T Step<T>(ReadOnlySpan<T> input, Span<T> output, bool positive, T learningRate, Span<T> inputGradient)
        where T : struct, IFloatingPointIeee754<T>
    {
        T s = VectorOps.Dot<T>(input, output);
        T g = Sigmoid(s) - (positive ? T.One : T.Zero);
        VectorOps.Axpy<T>(g, output, inputGradient);
        VectorOps.Axpy(-learningRate * g, input, output);
        return Softplus(positive ? -s : s);
    }

    /// <summary>σ(x) = 1 / (1 + e^−x), computed without overflow for large |x|.</summary>
    public static T Sigmoid<T>(T x) where T : struct, IFloatingPointIeee754<T>
    {
        if (x >= T.Zero) return T.One / (T.One + T.Exp(-x));
        T e = T.Exp(x);
        return e / (T.One + e);
    }

    /// <summary>log(1 + e^x) = −log σ(−x), without overflow.</summary>
    public static T Softplus<T>(T x) where T : struct, IFloatingPointIeee754<T> =>
        T.Max(x, T.Zero) + T.Log(T.One + T.Exp(-T.Abs(x)));
}
