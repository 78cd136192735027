using Ptm.FineTuning.Baselines;

namespace Ptm.Tests.FineTuning;

/// <summary>The classic baseline's parts: featurizer, the regularised objective and its gradient, L-BFGS.</summary>
public class BaselineModelTests
{
    [Fact]
    public void WordsAreLowerCasedWithoutAccentsAndPunctuationIsSplitOff()
    {
        Assert.Equal(["cafe", ",", "noir", "!", "it", "'", "s"], BaselineWords.Of("Café, NOIR! It's"));
        var t = BaselineWords.Tokenize("  Big dog.");
        Assert.Equal([new(("big"), 2, 5), new("dog", 6, 9), new(".", 9, 10)], t);
    }

    [Fact]
    public void VocabularyAndVectorsMatchTheGoldenOutput()
    {
        string[] train = ["The cat sat on the mat.", "A cat!"];
        var all = WordVocabulary.Build(train.SelectMany(BaselineWords.Of), minCount: 1);
        Assert.Equal(["!", ".", "a", "cat", "mat", "on", "sat", "the"], all.Words);
        Assert.Equal(["cat", "the"], WordVocabulary.Build(train.SelectMany(BaselineWords.Of), minCount: 2).Words);

        // "dog", "café" and "," are not in the vocabulary and are dropped; "the" occurs twice.
        var binary = new BagOfWords(all, TermWeighting.Binary).Vector("The CAT, the café dog");
        Assert.Equal([3, 7], binary.Ids);
        Assert.Equal([1.0, 1.0], binary.Values);
        var logCount = new BagOfWords(all, TermWeighting.LogCount).Vector("The CAT, the café dog");
        Assert.Equal([3, 7], logCount.Ids);
        Assert.Equal(Math.Log(2), logCount.Values[0], 15);
        Assert.Equal(Math.Log(3), logCount.Values[1], 15);
        Assert.Equal(0, new BagOfWords(all, TermWeighting.Binary).Vector("zebra dog").Count);
    }

    [Fact]
    public void TheProductOfTwoBagsIsTheirSharedWords()
    {
        var a = new SparseVector([1, 3, 7], [1, 2, 3]);
        var b = new SparseVector([0, 3, 5, 7], [4, 5, 6, 7]);
        var p = a.Times(b);
        Assert.Equal([3, 7], p.Ids);
        Assert.Equal([10.0, 21.0], p.Values);
        Assert.Equal(0, a.Times(SparseVector.Empty).Count);
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        Assert.Equal("MinCount", Assert.Throws<InvalidOptionException>(() => WordVocabulary.Build(["a"], 0)).Property);
        Assert.Throws<InvalidInputException>(() => BaselineOptions.ParseGrid("1e-3,zero", "--l2"));
        Assert.Throws<InvalidInputException>(() => BaselineOptions.ParseGrid("-1", "--l2"));
        Assert.Equal([1e-3, 0.5], BaselineOptions.ParseGrid("1e-3, 0.5", "--l2"));
        Assert.Throws<InvalidInputException>(() => BagOfWords.ParseWeighting("tfidf", "--weighting"));
    }

    /// <summary>A random sparse problem of the given kind, seeded.</summary>
    static LinearProblem RandomProblem(LinearLoss loss, int seed, int rows = 12, int columns = 7)
    {
        var rng = new Random(seed);
        var x = new SparseRows(columns);
        for (int r = 0; r < rows; r++)
            x.AddRow(Enumerable.Range(0, columns).Where(_ => rng.NextDouble() < 0.4).Select(c => (c, Math.Round(rng.NextDouble() * 2, 3))));
        return loss switch
        {
            LinearLoss.Softmax => new LinearProblem(x, loss, 3, Enumerable.Range(0, rows).Select(_ => (double)rng.Next(3)).ToList()),
            LinearLoss.Choice => new LinearProblem(x, loss, 1, Enumerable.Range(0, rows / 3).Select(_ => (double)rng.Next(3)).ToList(), groupSize: 3),
            LinearLoss.Logistic => new LinearProblem(x, loss, 1, Enumerable.Range(0, rows).Select(_ => (double)rng.Next(2)).ToList()),
            _ => new LinearProblem(x, loss, 1, Enumerable.Range(0, rows).Select(_ => rng.NextDouble() * 5).ToList()),
        };
    }

    [Theory]
    [InlineData(LinearLoss.Softmax)]
    [InlineData(LinearLoss.Choice)]
    [InlineData(LinearLoss.Logistic)]
    [InlineData(LinearLoss.Squared)]
    public void GradientMatchesFiniteDifferences(LinearLoss kind)
    {
        var problem = RandomProblem(kind, seed: 5);
        using var loss = new RegularizedLoss(problem, l2: 0.3);
        var rng = new Random(11);
        var theta = Enumerable.Range(0, problem.ParameterCount).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var gradient = new double[theta.Length];
        loss.ValueAndGradient(theta, gradient);
        var scratch = new double[theta.Length];
        const double eps = 1e-6;
        for (int i = 0; i < theta.Length; i++)
        {
            var up = (double[])theta.Clone();
            var down = (double[])theta.Clone();
            up[i] += eps;
            down[i] -= eps;
            double numeric = (loss.ValueAndGradient(up, scratch) - loss.ValueAndGradient(down, scratch)) / (2 * eps);
            Assert.True(Math.Abs(numeric - gradient[i]) <= 1e-8 + 1e-6 * Math.Abs(numeric), $"{kind} θ[{i}]: autograd {gradient[i]} vs finite difference {numeric}");
        }
    }

    [Fact]
    public void TheObjectiveIsTheMeanCrossEntropyPlusHalfLambdaTimesTheSquaredWeightsNotTheBias()
    {
        // Two rows, two features, two classes: x0 = (1, 0) class 0, x1 = (0.5, 2) class 1.
        var x = new SparseRows(2);
        x.AddRow([(0, 1.0)]);
        x.AddRow([(0, 0.5), (1, 2.0)]);
        var problem = new LinearProblem(x, LinearLoss.Softmax, 2, [0, 1]);
        double[] theta = [0.2, -0.1, 0.3, 0.4, 0.05, -0.05];   // W = [[0.2, -0.1], [0.3, 0.4]], b = [0.05, -0.05]
        using var loss = new RegularizedLoss(problem, l2: 0.5);
        // Row 0 scores: (0.25, -0.15); row 1: (0.1 + 0.6 + 0.05, -0.05 + 0.8 - 0.05) = (0.75, 0.7).
        double ce0 = Math.Log(Math.Exp(0.25) + Math.Exp(-0.15)) - 0.25;
        double ce1 = Math.Log(Math.Exp(0.75) + Math.Exp(0.7)) - 0.7;
        double expected = (ce0 + ce1) / 2 + 0.5 * 0.5 * (0.04 + 0.01 + 0.09 + 0.16);
        Assert.Equal(expected, loss.ValueAndGradient(theta, new double[6]), 12);
    }

    /// <summary>Points at ±1 with labels 1/0: by symmetry the bias is 0 and each row's loss is log(1 + e^-w), so the
    /// optimum solves σ(-w) = λw, found here by bisection, independently of L-BFGS.</summary>
    [Fact]
    public void LogisticOptimumMatchesTheHandSolvedOne()
    {
        var x = new SparseRows(1);
        foreach (double v in new[] { 1.0, -1.0, 1.0, -1.0 }) x.AddRow([(0, v)]);
        var problem = new LinearProblem(x, LinearLoss.Logistic, 1, [1, 0, 1, 0]);
        const double l2 = 0.1;
        double lo = 0, hi = 100;
        for (int i = 0; i < 200; i++)
        {
            double mid = (lo + hi) / 2;
            if (1 / (1 + Math.Exp(mid)) > l2 * mid) lo = mid; else hi = mid;
        }
        double w = (lo + hi) / 2;
        double optimum = Math.Log(1 + Math.Exp(-w)) + l2 / 2 * w * w;

        var (model, fit) = ClassicBaseline.Fit(problem, l2);
        Assert.True(fit.Converged);
        Assert.Equal(w, model.Weight(0, 0), 6);
        Assert.Equal(0, model.Bias(0), 6);
        Assert.Equal(optimum, fit.Value, 10);
        Assert.True(fit.Value < Math.Log(2), "the optimum must beat the zero model's loss, ln 2");
    }

    /// <summary>Ridge on one feature has a closed form: w = Sxy / (Sxx + nλ/2), b = ȳ - w x̄ (from the mean squared error
    /// + λ/2 w² objective's normal equations).</summary>
    [Fact]
    public void RidgeOptimumMatchesTheClosedForm()
    {
        double[] xs = [0, 1, 2, 3, 4], ys = [1.0, 2.9, 5.2, 7.1, 8.8];
        var x = new SparseRows(1);
        foreach (double v in xs) x.AddRow([(0, v)]);
        const double l2 = 0.5;
        var (model, fit) = ClassicBaseline.Fit(new LinearProblem(x, LinearLoss.Squared, 1, ys), l2);
        double mx = xs.Average(), my = ys.Average();
        double sxy = xs.Zip(ys, (a, b) => (a - mx) * (b - my)).Sum(), sxx = xs.Sum(a => (a - mx) * (a - mx));
        double w = sxy / (sxx + xs.Length * l2 / 2);
        Assert.True(fit.Converged);
        Assert.Equal(w, model.Weight(0, 0), 6);
        Assert.Equal(my - w * mx, model.Bias(0), 6);
    }

    [Theory]
    [InlineData(LinearLoss.Softmax)]
    [InlineData(LinearLoss.Choice)]
    [InlineData(LinearLoss.Logistic)]
    [InlineData(LinearLoss.Squared)]
    public void AtTheOptimumTheGradientVanishesAndNoNearbyPointIsLower(LinearLoss kind)
    {
        var problem = RandomProblem(kind, seed: 9, rows: 30);
        const double l2 = 1e-2;
        var (_, fit) = ClassicBaseline.Fit(problem, l2);
        using var loss = new RegularizedLoss(problem, l2);
        var gradient = new double[problem.ParameterCount];
        double value = loss.ValueAndGradient(fit.X, gradient);
        Assert.True(gradient.Max(Math.Abs) <= 1e-6, $"KKT: max |gradient| {gradient.Max(Math.Abs)} at the returned optimum");
        Assert.Equal(fit.Value, value, 12);
        double atZero = loss.ValueAndGradient(new double[problem.ParameterCount], gradient);
        // The zero model's loss by hand: ln C for a softmax over C, ln 2 for logistic, the mean squared target for ridge.
        double hand = kind switch
        {
            LinearLoss.Softmax or LinearLoss.Choice => Math.Log(3),
            LinearLoss.Logistic => Math.Log(2),
            _ => problem.Targets.Average(t => t * t),
        };
        Assert.Equal(hand, atZero, 12);
        Assert.True(fit.Value < hand);
        var rng = new Random(2);
        for (int trial = 0; trial < 20; trial++)
        {
            var nearby = fit.X.Select(v => v + (rng.NextDouble() - 0.5) * 1e-2).ToArray();
            Assert.True(loss.ValueAndGradient(nearby, gradient) >= fit.Value);
        }
    }

    /// <summary>The optimiser on its own, on Rosenbrock's valley from the classic start (-1.2, 1): minimum 0 at (1, 1).</summary>
    [Fact]
    public void LbfgsFindsTheRosenbrockMinimumAndSaysWhenItStopsShort()
    {
        static double Rosenbrock(double[] x, double[] g)
        {
            double a = 1 - x[0], b = x[1] - x[0] * x[0];
            g[0] = -2 * a - 400 * x[0] * b;
            g[1] = 200 * b;
            return a * a + 100 * b * b;
        }
        var fit = Lbfgs.Minimize(Rosenbrock, [-1.2, 1]);
        Assert.True(fit.Converged);
        Assert.Equal(1, fit.X[0], 5);
        Assert.Equal(1, fit.X[1], 5);
        Assert.True(fit.Value < 1e-10);
        Assert.True(fit.GradientNorm <= 1e-6);

        var cut = Lbfgs.Minimize(Rosenbrock, [-1.2, 1], new LbfgsOptions(MaxIterations: 3));
        Assert.False(cut.Converged);
        Assert.Equal(3, cut.Iterations);
        Assert.Throws<Ptm.Training.NonFiniteLossException>(() => Lbfgs.Minimize((x, g) => double.PositiveInfinity, [0.0]));
    }

    [Fact]
    public void FittingIsDeterministic()
    {
        var problem = RandomProblem(LinearLoss.Softmax, seed: 3, rows: 40);
        var (_, a) = ClassicBaseline.Fit(problem, 1e-3);
        var (_, b) = ClassicBaseline.Fit(problem, 1e-3);
        Assert.Equal(a.X, b.X);
        Assert.Equal(a.Iterations, b.Iterations);
    }

    [Fact]
    public void ScoresAreXTimesWPlusB()
    {
        var x = new SparseRows(3);
        x.AddRow([(0, 1.0), (2, 2.0)]);
        x.AddRow([]);
        var model = new LinearModel(3, 2, [1, 2, 3, 4, 5, 6], [0.5, -0.5]);
        Assert.Equal([1 + 10 + 0.5, 2 + 12 - 0.5, 0.5, -0.5], model.Scores(x));
    }

    [Fact]
    public void TheBestRunIsTheLargestSumOfLogOdds()
    {
        Assert.Equal((1, 2), SpanBaseline.BestRun([-1, 2, 0.5, -3, 1]));
        Assert.Equal((2, 2), SpanBaseline.BestRun([-3, -2, -0.5, -4]));   // all negative: the single best word
        Assert.Equal((0, 4), SpanBaseline.BestRun([1, -0.5, 1, -0.5, 1]));
        Assert.Equal((0, 0), SpanBaseline.BestRun([1, -1, 1]));           // a tie: the earliest
    }
}
