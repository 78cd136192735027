namespace Ptm.FineTuning;

/// <summary>Accuracy, macro-averaged F1 and the confusion matrix (rows: gold, columns: predicted).</summary>
public sealed record ClassificationMetrics(double Accuracy, double MacroF1, int[,] Confusion, int Count);

/// <summary>Pearson and Spearman correlation (STS-B's metrics) and the mean squared error.</summary>
public sealed record CorrelationMetrics(double Pearson, double Spearman, double Mse, int Count);

/// <summary>The sequence-level tasks' metrics, computed the same way for validation, <c>ptm evaluate</c> and the
/// classic baselines.</summary>
public static class TaskMetrics
{
    /// <summary>Accuracy, macro F1 (over the classes that occur in <paramref name="gold"/> or
    /// <paramref name="predicted"/>) and the confusion matrix of class ids in [0, <paramref name="classes"/>);
    /// NaN scores for an empty set.</summary>
    public static ClassificationMetrics Classification(IReadOnlyList<int> gold, IReadOnlyList<int> predicted, int classes)
    {
        var confusion = new int[classes, classes];
        int correct = 0;
        for (int i = 0; i < gold.Count; i++)
        {
            confusion[gold[i], predicted[i]]++;
            if (gold[i] == predicted[i]) correct++;
        }
        // Macro-F1 over the classes that occur in the gold labels or the predictions: a class absent from both
        // says nothing about this set and would otherwise count as a perfect or a zero score arbitrarily.
        double sum = 0;
        int counted = 0;
        for (int c = 0; c < classes; c++)
        {
            int tp = confusion[c, c], goldCount = 0, predCount = 0;
            for (int j = 0; j < classes; j++) { goldCount += confusion[c, j]; predCount += confusion[j, c]; }
            if (goldCount == 0 && predCount == 0) continue;
            sum += goldCount + predCount == 0 ? 0 : 2.0 * tp / (goldCount + predCount);
            counted++;
        }
        return new ClassificationMetrics(gold.Count == 0 ? double.NaN : (double)correct / gold.Count, counted == 0 ? double.NaN : sum / counted, confusion, gold.Count);
    }

    /// <summary>Pearson, Spearman (Pearson of the ranks) and mean squared error of predicted against gold scores.</summary>
    public static CorrelationMetrics Correlation(IReadOnlyList<double> gold, IReadOnlyList<double> predicted)
    {
        double mse = gold.Zip(predicted, (g, p) => (g - p) * (g - p)).DefaultIfEmpty(double.NaN).Average();
        return new CorrelationMetrics(Pearson(gold, predicted), Pearson(Ranks(gold), Ranks(predicted)), mse, gold.Count);
    }

    /// <summary>Pearson's correlation coefficient of two equally long series; NaN for fewer than two points or a
    /// constant series.</summary>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n = x.Count;
        if (n < 2) return double.NaN;
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < n; i++)
        {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }

    /// <summary>1-based ranks with ties given their average rank, as Spearman's coefficient needs.</summary>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            double rank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }
}
