using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

/// <summary>Central finite differences of a scalar loss with respect to one element of a parameter, for gradient checks in float64.</summary>
static class FiniteDifference
{
    /// <summary>(loss(x + h) − loss(x − h)) / 2h with element <paramref name="i"/> of <paramref name="flat"/> (a view of a
    /// parameter) moved by ±<paramref name="h"/>; the element is restored afterwards.</summary>
    public static double Central(Tensor flat, long i, Func<double> loss, double h = 1e-6)
    {
        double original = flat[i].item<double>();
        try
        {
            using (no_grad()) flat[i] = original + h;
            double up = loss();
            using (no_grad()) flat[i] = original - h;
            double down = loss();
            return (up - down) / (2 * h);
        }
        finally
        {
            using (no_grad()) flat[i] = original;
        }
    }
}
