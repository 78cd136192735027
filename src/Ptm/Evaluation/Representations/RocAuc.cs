namespace Ptm.Evaluation.Representations;

/// <summary>Area under the ROC curve of a score that should rank positives above negatives.</summary>
public static class RocAuc
{
    /// <summary>
    /// The exact AUC: the probability that a random positive scores above a random negative, a tie counting one half
    /// (the Mann–Whitney U statistic over P·N). Computed from mid-ranks: sort the scores, give tied scores the mean of
    /// their ranks, then AUC = (Σ ranks of positives − P(P+1)/2) / (P·N). 0.5 when every score is equal.
    /// </summary>
    /// <exception cref="ArgumentException">The lists differ in length, a score is NaN, or one class is empty.</exception>
    public static double Compute(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        if (scores.Count != positive.Count) throw new ArgumentException($"{scores.Count} scores for {positive.Count} labels");
        if (scores.Any(double.IsNaN)) throw new ArgumentException("a score is NaN");
        long p = positive.Count(x => x), n = positive.Count - p;
        if (p == 0 || n == 0) throw new ArgumentException($"AUC needs both classes (got {p} positive, {n} negative)");
        var order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double positiveRanks = 0;
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && scores[order[end + 1]] == scores[order[start]]) end++;
            double midRank = (start + end) / 2.0 + 1;           // ranks are 1-based
            for (int k = start; k <= end; k++)
                if (positive[order[k]]) positiveRanks += midRank;
            start = end + 1;
        }
        return (positiveRanks - p * (p + 1) / 2.0) / ((double)p * n);
    }
}
