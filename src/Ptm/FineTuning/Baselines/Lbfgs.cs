namespace Ptm.FineTuning.Baselines;

/// <param name="MaxIterations">Iterations (line searches) before giving up.</param>
/// <param name="History">Correction pairs kept (Nocedal and Wright suggest 3 to 20).</param>
/// <param name="GradientTolerance">Converged when every gradient component is at most this in absolute value.</param>
/// <param name="ValueTolerance">Stops when an iteration lowers the objective by less than this fraction of it (the
/// objective is flat to working precision); that counts as converged only if the gradient test passes too.</param>
public sealed record LbfgsOptions(int MaxIterations = 2000, int History = 10, double GradientTolerance = 1e-6, double ValueTolerance = 1e-13);

/// <param name="GradientNorm">The largest absolute gradient component at <see cref="X"/>.</param>
/// <param name="Converged">Whether that is at most <see cref="LbfgsOptions.GradientTolerance"/>, the first-order
/// optimality condition; false after a stall or MaxIterations.</param>
/// <summary>Where <see cref="Lbfgs.Minimize"/> stopped.</summary>
/// <param name="X">The last point: the minimiser when <paramref name="Converged"/>; a fresh array the caller owns.</param>
/// <param name="Value">The objective at <paramref name="X"/>.</param>
/// <param name="Iterations">Line searches made.</param>
/// <param name="Evaluations">Objective (value and gradient) evaluations made, line-search trials included.</param>
public sealed record LbfgsResult(double[] X, double Value, double GradientNorm, int Iterations, int Evaluations, bool Converged);

/// <summary>
/// Limited-memory BFGS (Nocedal and Wright, Numerical Optimization, 2nd ed., Algorithms 7.4 and 7.5) with a
/// backtracking Armijo line search, for smooth convex objectives. Deterministic: no randomness, a fixed order of
/// operations. A correction pair is kept only when its curvature sᵀy is positive, so the implied inverse Hessian
/// stays positive definite and every direction is a descent direction.
/// </summary>
public static class Lbfgs
{
    const double Armijo = 1e-4;   // sufficient decrease constant c1 (N&W §3.1)

    /// <summary>Minimises <paramref name="objective"/> from <paramref name="start"/> (not modified).</summary>
    /// <param name="objective">Writes the gradient at x into its second argument and returns the value.</param>
    /// <param name="start">The first point; its length is the problem's dimension.</param>
    /// <param name="options">Stopping rules and history; null for the defaults.</param>
    public static LbfgsResult Minimize(Func<double[], double[], double> objective, double[] start, LbfgsOptions? options = null)
    {
        var o = options ?? new LbfgsOptions();
        int n = start.Length;
        var x = (double[])start.Clone();
        var g = new double[n];
        double f = objective(x, g);
        int evaluations = 1;
        // Later points are finite: the line search rejects any other. A non-finite start is e.g. targets too large to square.
        if (!double.IsFinite(f)) throw new Training.NonFiniteLossException($"L-BFGS: the objective is {f} at the start point");
        var s = new List<double[]>();
        var y = new List<double[]>();
        var rho = new List<double>();
        var d = new double[n];
        var xNew = new double[n];
        var gNew = new double[n];
        var alpha = new double[o.History];

        for (int iteration = 0; ; iteration++)
        {
            double gMax = MaxAbs(g);
            if (gMax <= o.GradientTolerance) return new LbfgsResult(x, f, gMax, iteration, evaluations, true);
            if (iteration >= o.MaxIterations) return new LbfgsResult(x, f, gMax, iteration, evaluations, false);

            // Two-loop recursion: d = -H g.
            for (int i = 0; i < n; i++) d[i] = -g[i];
            for (int k = s.Count - 1; k >= 0; k--)
            {
                alpha[k] = rho[k] * Dot(s[k], d);
                Axpy(-alpha[k], y[k], d);
            }
            // H0 = γI with γ = sᵀy / yᵀy of the newest pair (N&W eq. 7.20); before any pair a unit-length first step.
            double gamma = s.Count > 0 ? 1 / (rho[^1] * Dot(y[^1], y[^1])) : 1 / Math.Max(1, Math.Sqrt(Dot(g, g)));
            for (int i = 0; i < n; i++) d[i] *= gamma;
            for (int k = 0; k < s.Count; k++)
            {
                double beta = rho[k] * Dot(y[k], d);
                Axpy(alpha[k] - beta, s[k], d);
            }

            double slope = Dot(g, d);
            if (!(slope < 0))
            {
                // Lost descent through rounding: forget the history and take a gradient step.
                s.Clear(); y.Clear(); rho.Clear();
                for (int i = 0; i < n; i++) d[i] = -g[i] / Math.Max(1, Math.Sqrt(Dot(g, g)));
                slope = Dot(g, d);
            }

            double t = 1, fNew = double.NaN;
            bool accepted = false;
            for (int tries = 0; tries < 60; tries++, t *= 0.5)
            {
                for (int i = 0; i < n; i++) xNew[i] = x[i] + t * d[i];
                fNew = objective(xNew, gNew);
                evaluations++;
                if (double.IsFinite(fNew) && fNew <= f + Armijo * t * slope) { accepted = true; break; }
            }
            // No step lowers the objective: it is flat to working precision along the best direction we have.
            if (!accepted) return new LbfgsResult(x, f, gMax, iteration, evaluations, false);

            var sk = new double[n];
            var yk = new double[n];
            for (int i = 0; i < n; i++) { sk[i] = xNew[i] - x[i]; yk[i] = gNew[i] - g[i]; }
            double sy = Dot(sk, yk);
            if (sy > 1e-12 * Math.Sqrt(Dot(sk, sk) * Dot(yk, yk)))
            {
                if (s.Count == o.History) { s.RemoveAt(0); y.RemoveAt(0); rho.RemoveAt(0); }
                s.Add(sk); y.Add(yk); rho.Add(1 / sy);
            }
            double decrease = f - fNew;
            (x, xNew) = (xNew, x);
            (g, gNew) = (gNew, g);
            f = fNew;
            if (decrease <= o.ValueTolerance * Math.Max(1, Math.Abs(f)))
                return new LbfgsResult(x, f, MaxAbs(g), iteration + 1, evaluations, MaxAbs(g) <= o.GradientTolerance);
        }
    }

    static double Dot(double[] a, double[] b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    static void Axpy(double a, double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) y[i] += a * x[i];
    }

    static double MaxAbs(double[] v)
    {
        double m = 0;
        foreach (double e in v) m = Math.Max(m, Math.Abs(e));
        return m;
    }
}
