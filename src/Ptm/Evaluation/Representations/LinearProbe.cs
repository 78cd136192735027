using Ptm.FineTuning;
using Ptm.FineTuning.Baselines;
using static TorchSharp.torch;

namespace Ptm.Evaluation.Representations;

/// <summary>One layer's probe: the L2 strength chosen on validation and the accuracies it gives.</summary>
/// <param name="Layer">layer index</param>
/// <param name="Name">layer name</param>
/// <param name="L2">the L2 strength kept (best validation accuracy, the stronger on a tie)</param>
/// <param name="ValidationAccuracy">accuracy on the validation split</param>
/// <param name="TestAccuracy">accuracy on the test split</param>
public sealed record LayerProbe(int Layer, string Name, double L2, double ValidationAccuracy, double TestAccuracy);

/// <summary>The probes of every layer of one representation on one classification task.</summary>
/// <param name="Layers">one probe per layer</param>
/// <param name="Uncovered">texts (of all three splits) in which no token had a vector; their features are the training mean</param>
public sealed record ProbeReport(IReadOnlyList<LayerProbe> Layers, int Uncovered);

/// <summary>
/// Frozen features plus logistic regression: each text becomes the mean of its token vectors at one layer
/// (<see cref="LayeredTokens.TextVector"/>), standardised with the training split's per-dimension mean and standard
/// deviation, and a multinomial logistic regression (L-BFGS to convergence, L2 on the weights, as the classic
/// baseline fits its softmax problem) is trained on it for every strength of the grid; the strength with the best validation accuracy is kept
/// (the stronger on a tie) and scored on test. Nothing in the representation is trained.
/// </summary>
public static class LinearProbe
{
    /// <summary>Probes every layer of <paramref name="representation"/> on a classification task (text and label).</summary>
    /// <exception cref="InvalidInputException">A validation or test label is not among the training labels.</exception>
    public static ProbeReport Run(ILayeredRepresentation representation, TaskData train, TaskData validation, TaskData test,
        IReadOnlyList<double>? l2Grid = null, LbfgsOptions? optimizer = null)
    {
        var grid = l2Grid ?? BaselineOptions.DefaultGrid;
        var labels = LabelMap.FromTraining(train);
        int layers = representation.LayerNames.Count;
        int uncovered = 0;
        List<float[]?[]> Encode(TaskData data) => data.Examples.Select(e =>
        {
            var tokens = representation.Encode(e.Text);
            var row = Enumerable.Range(0, layers).Select(tokens.TextVector).ToArray();
            if (row[0] is null) uncovered++;
            return row;
        }).ToList();
        var (trainX, validX, testX) = (Encode(train), Encode(validation), Encode(test));
        int[] Ids(TaskData data) => data.Examples.Select(e => labels.Id(e.Label!, data.Source, e.Line)).ToArray();
        var (trainY, validY, testY) = (Ids(train), Ids(validation), Ids(test));

        var result = new List<LayerProbe>();
        for (int l = 0; l < layers; l++)
        {
            int layer = l;
            var standardizer = Standardizer.Fit(trainX.Select(r => r[layer]));
            var (trainRows, validRows, testRows) = (standardizer.Rows(trainX.Select(r => r[layer])),
                standardizer.Rows(validX.Select(r => r[layer])), standardizer.Rows(testX.Select(r => r[layer])));
            (double[] W, double[] B)? best = null;
            double bestL2 = 0, bestValid = double.NegativeInfinity;
            foreach (double l2 in grid)
            {
                var model = DenseSoftmax.Fit(trainRows, trainY, labels.Count, l2, optimizer);
                double acc = Accuracy(model, validRows, validY);
                if (acc > bestValid || (acc == bestValid && l2 > bestL2)) (best, bestL2, bestValid) = (model, l2, acc);
            }
            result.Add(new LayerProbe(l, representation.LayerNames[l], bestL2, bestValid, Accuracy(best!.Value, testRows, testY)));
        }
        return new ProbeReport(result, uncovered);
    }

    static double Accuracy((double[] W, double[] B) model, double[][] rows, int[] labels)
    {
        int k = model.B.Length, right = 0;
        var scores = new double[k];
        for (int r = 0; r < rows.Length; r++)
        {
            model.B.CopyTo(scores, 0);
            var x = rows[r];
            for (int i = 0; i < x.Length; i++)
                for (int o = 0; o < k; o++) scores[o] += x[i] * model.W[i * k + o];
            if (LinearModel.ArgMax(scores) == labels[r]) right++;
        }
        return (double)right / labels.Length;
    }

    /// <summary>
    /// Multinomial logistic regression on dense rows, the objective of the classic baseline's softmax problem
    /// (mean cross-entropy + λ/2·||W||², bias unpenalised) with dense matrix products instead of its sparse scatter:
    /// probe features are dense, where a bag of words is not. Minimised from zero with L-BFGS.
    /// </summary>
    internal static class DenseSoftmax
    {
        public static (double[] W, double[] B) Fit(double[][] rows, int[] labels, int classes, double l2, LbfgsOptions? optimizer)
        {
            int n = rows.Length, d = rows[0].Length;
            var flat = new double[n * d];
            for (int r = 0; r < n; r++) rows[r].CopyTo(flat, r * d);
            using var x = tensor(flat, float64).reshape(n, d).DetachFromDisposeScope();       // (N, D)
            using var y = tensor(labels.Select(v => (long)v).ToArray()).DetachFromDisposeScope(); // (N)
            double Objective(double[] theta, double[] gradient)
            {
                using var scope = NewDisposeScope();
                var t = tensor(theta, float64).requires_grad_();
                var w = t.narrow(0, 0, (long)d * classes).view(d, classes);                       // (D, C)
                var scores = x.mm(w) + t.narrow(0, (long)d * classes, classes);                    // (N, C)
                var loss = nn.functional.cross_entropy(scores, y) + 0.5 * l2 * w.square().sum();
                loss.backward();
                t.grad!.data<double>().CopyTo(gradient, 0);
                return loss.item<double>();
            }
            var fit = Lbfgs.Minimize(Objective, new double[d * classes + classes], optimizer);
            return (fit.X[..(d * classes)], fit.X[(d * classes)..]);
        }
    }

    /// <summary>Per-dimension (x − mean) / sd from the training rows (sd 0 → 1); a missing row becomes all zeros,
    /// the training mean.</summary>
    sealed class Standardizer(double[] mean, double[] scale)
    {
        public static Standardizer Fit(IEnumerable<float[]?> rows)
        {
            var present = rows.Where(r => r is not null).Select(r => r!).ToList();
            if (present.Count == 0) throw new InvalidInputException("no training text has a vector at this layer (every word is outside the vocabulary)");
            int d = present[0].Length;
            var mean = new double[d];
            var sq = new double[d];
            foreach (var r in present) for (int i = 0; i < d; i++) mean[i] += r[i];
            for (int i = 0; i < d; i++) mean[i] /= present.Count;
            foreach (var r in present) for (int i = 0; i < d; i++) sq[i] += (r[i] - mean[i]) * (r[i] - mean[i]);
            var scale = sq.Select(s => Math.Sqrt(s / present.Count) is double sd && sd > 0 ? 1 / sd : 1.0).ToArray();
            return new Standardizer(mean, scale);
        }

        public double[][] Rows(IEnumerable<float[]?> rows) =>
            rows.Select(r => r is null ? new double[mean.Length] : Enumerable.Range(0, mean.Length).Select(i => (r[i] - mean[i]) * scale[i]).ToArray()).ToArray();
    }
}
