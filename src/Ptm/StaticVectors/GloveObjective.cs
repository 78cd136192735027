using System.Numerics;

namespace Ptm.StaticVectors;

/// <summary>
/// GloVe's weighted least squares (Pennington, Socher and Manning 2014): for a co-occurrence count x of word i with
/// context word j, J = ½·f(x)·(wᵢ·c̃ⱼ + bᵢ + b̃ⱼ − log x)² with f(x) = (x / x_max)^α below x_max and 1 above. The ½
/// follows the reference glove.c, whose reported cost is this sum. Generic so that tests check the gradient in double
/// while training runs in float.
/// </summary>
public static class GloveObjective
{
    /// <summary>f(x) = min(1, (x / x_max)^α): rare pairs count less, frequent pairs are capped.</summary>
    public static T Weight<T>(T x, T xMax, T alpha) where T : struct, IFloatingPointIeee754<T> =>
        x < xMax ? T.Pow(x / xMax, alpha) : T.One;

    /// <summary>
    /// One pair's loss and gradient. Writes ∂J/∂wᵢ = f·d·c̃ⱼ to <paramref name="wordGradient"/> and ∂J/∂c̃ⱼ = f·d·wᵢ to
    /// <paramref name="contextGradient"/> (d = wᵢ·c̃ⱼ + bᵢ + b̃ⱼ − log x), sets <paramref name="biasGradient"/> to f·d
    /// (the derivative for either bias) and returns J.
    /// </summary>
    public static T LossAndGradient<T>(ReadOnlySpan<T> word, ReadOnlySpan<T> context, T wordBias, T contextBias,
        T count, T xMax, T alpha, Span<T> wordGradient, Span<T> contextGradient, out T biasGradient)
        where T : struct, IFloatingPointIeee754<T>
    {
        T diff = VectorOps.Dot(word, context) + wordBias + contextBias - T.Log(count);
        T fdiff = Weight(count, xMax, alpha) * diff;
        for (int k = 0; k < word.Length; k++)
        {
            wordGradient[k] = fdiff * context[k];
            contextGradient[k] = fdiff * word[k];
        }
        biasGradient = fdiff;
        return fdiff * diff / (T.One + T.One);
    }
}
