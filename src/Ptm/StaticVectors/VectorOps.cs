using System.Numerics;

namespace Ptm.StaticVectors;

/// <summary>The two vector operations the static-vector trainers spend their time in, SIMD-wide for float and double.</summary>
static class VectorOps
{
    /// <summary>Σ a[i]·b[i].</summary>
    public static T Dot<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b) where T : struct, IFloatingPointIeee754<T>
    {
        int i = 0;
        T sum = T.Zero;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && a.Length >= Vector<T>.Count)
        {
            var acc = Vector<T>.Zero;
            for (; i <= a.Length - Vector<T>.Count; i += Vector<T>.Count)
                acc += new Vector<T>(a[i..]) * new Vector<T>(b[i..]);
            sum = Vector.Sum(acc);
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y += alpha·x.</summary>
    public static void Axpy<T>(T alpha, ReadOnlySpan<T> x, Span<T> y) where T : struct, IFloatingPointIeee754<T>
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && Vector<T>.IsSupported && x.Length >= Vector<T>.Count)
        {
            var a = new Vector<T>(alpha);
            for (; i <= x.Length - Vector<T>.Count; i += Vector<T>.Count)
                (new Vector<T>(y[i..]) + a * new Vector<T>(x[i..])).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++) y[i] += alpha * x[i];
    }
}
