using System.Text;

namespace Ptm.Evaluation;

/// <summary>
/// chrF (Popović 2015) as sacreBLEU 2.x computes it by default: character n-grams of orders 1–6 with whitespace
/// removed, no word n-grams, β = 2 (recall weighted twice precision), mixed case. Per order the hypothesis, reference
/// and matched (clipped) n-gram counts are summed over the corpus; precision and recall are averaged over the orders
/// where both sides have n-grams ("effective order", sacreBLEU's default) and combined into
/// F_β = (1 + β²)·P·R / (β²·P + R). Score 0–100. sacreBLEU's signature: <c>nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no</c>.
/// </summary>
public static class ChrF
{
    /// <summary>sacreBLEU's default character n-gram order.</summary>
    public const int DefaultCharOrder = 6;
    /// <summary>sacreBLEU's default β.</summary>
    public const double DefaultBeta = 2;

    /// <summary>Corpus chrF of <paramref name="hypotheses"/> against one reference each. <paramref name="epsSmoothing"/>
    /// switches to chrF++.py's averaging of per-order F scores with ε for missing orders (sacreBLEU's
    /// <c>eps_smoothing=True</c>).</summary>
    /// <exception cref="ArgumentException">The lists differ in length.</exception>
    public static double Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<string> references,
        int charOrder = DefaultCharOrder, double beta = DefaultBeta, bool epsSmoothing = false)
    {
        if (hypotheses.Count != references.Count)
            throw new ArgumentException($"{hypotheses.Count} hypotheses but {references.Count} references", nameof(references));
        ArgumentOutOfRangeException.ThrowIfLessThan(charOrder, 1);
        var statistics = new long[3 * charOrder];
        for (int i = 0; i < hypotheses.Count; i++)
        {
            long[] s = SentenceStatistics(hypotheses[i], references[i], charOrder);
            for (int j = 0; j < s.Length; j++) statistics[j] += s[j];
        }
        return FScore(statistics, charOrder, beta, epsSmoothing);
    }

    /// <summary>chrF of one sentence pair (the corpus score of a one-sentence corpus).</summary>
    public static double Sentence(string hypothesis, string reference,
        int charOrder = DefaultCharOrder, double beta = DefaultBeta, bool epsSmoothing = false) =>
        Corpus([hypothesis], [reference], charOrder, beta, epsSmoothing);

    /// <summary>[hypothesis n-grams, reference n-grams, matches] per order 1..<paramref name="charOrder"/>; as in
    /// sacreBLEU, hypothesis n-grams of an order the reference lacks are not counted.</summary>
    static long[] SentenceStatistics(string hypothesis, string reference, int charOrder)
    {
        string[] hyp = Characters(hypothesis), refChars = Characters(reference);
        var statistics = new long[3 * charOrder];
        for (int n = 1; n <= charOrder; n++)
        {
            var hypGrams = Ngrams(hyp, n);
            var refGrams = Ngrams(refChars, n);
            long hypCount = 0, refCount = 0, matches = 0;
            foreach (var (gram, count) in hypGrams)
            {
                hypCount += count;
                if (refGrams.TryGetValue(gram, out int r)) matches += Math.Min(count, r);
            }
            foreach (int count in refGrams.Values) refCount += count;
            statistics[3 * (n - 1)] = refGrams.Count > 0 ? hypCount : 0;
            statistics[3 * (n - 1) + 1] = refCount;
            statistics[3 * (n - 1) + 2] = matches;
        }
        return statistics;
    }

    static double FScore(long[] statistics, int order, double beta, bool epsSmoothing)
    {
        const double eps = 1e-16;
        double factor = beta * beta, score = 0, averagePrecision = 0, averageRecall = 0;
        int effective = 0;
        for (int i = 0; i < order; i++)
        {
            long nHyp = statistics[3 * i], nRef = statistics[3 * i + 1], nMatch = statistics[3 * i + 2];
            double precision = nHyp > 0 ? (double)nMatch / nHyp : eps;
            double recall = nRef > 0 ? (double)nMatch / nRef : eps;
            double denominator = factor * precision + recall;
            score += denominator > 0 ? (1 + factor) * precision * recall / denominator : eps;
            if (nHyp > 0 && nRef > 0)
            {
                averagePrecision += precision;
                averageRecall += recall;
                effective++;
            }
        }
        if (epsSmoothing) return 100 * score / order;
        if (effective == 0) return 0;
        averagePrecision /= effective;
        averageRecall /= effective;
        if (averagePrecision + averageRecall == 0) return 0;
        return 100 * (1 + factor) * averagePrecision * averageRecall / (factor * averagePrecision + averageRecall);
    }

    /// <summary>The text's characters (Unicode code points, as Python indexes strings) with all whitespace removed.</summary>
    static string[] Characters(string text)
    {
        var chars = new List<string>(text.Length);
        foreach (Rune rune in text.EnumerateRunes())
            if (!Rune.IsWhiteSpace(rune)) chars.Add(rune.ToString());
        return chars.ToArray();
    }

    static Dictionary<string, int> Ngrams(string[] chars, int n)
    {
        var counts = new Dictionary<string, int>();
        for (int i = 0; i + n <= chars.Length; i++)
        {
            string gram = string.Concat(chars.AsSpan(i, n));
            counts[gram] = counts.GetValueOrDefault(gram) + 1;
        }
        return counts;
    }
}
