using System.Text.RegularExpressions;

namespace Ptm.Evaluation;

/// <summary>Corpus BLEU and the statistics behind it: n-gram matches and totals per order (1-based order n at index
/// n-1), the brevity penalty, and the summed hypothesis and (closest) reference lengths in tokens. Score is 0–100.</summary>
public sealed record BleuScore(double Score, long[] Correct, long[] Total, double[] Precisions, double BrevityPenalty,
    long HypothesisLength, long ReferenceLength);

/// <summary>
/// BLEU (Papineni et al. 2002) as sacreBLEU 2.x computes it by default, so numbers compare with published ones: mixed
/// case, the 13a tokenisation of WMT's <c>mteval-v13a.pl</c>, n-grams up to 4, clipped counts summed over the corpus
/// before the precisions are taken, the brevity penalty exp(1 − r/c) from the summed lengths (r: per sentence, the
/// reference length closest to the hypothesis's, the shorter on a tie), and the <c>exp</c> smoothing (NIST's: the k-th
/// order with no match counts as 1/2^k matches). sacreBLEU's signature for these settings is
/// <c>nrefs:N|case:mixed|eff:no|tok:13a|smooth:exp</c>.
/// </summary>
public static class Bleu
{
    /// <summary>The highest n-gram order.</summary>
    public const int MaxOrder = 4;

    static readonly (Regex Pattern, string Replacement)[] Rules13a =
    [
        (new Regex(@"([{-~\[-` -&(-+:-@/])", RegexOptions.Compiled), " $1 "),   // punctuation and symbols
        (new Regex(@"([^0-9])([.,])", RegexOptions.Compiled), "$1 $2 "),          // period and comma unless after a digit
        (new Regex(@"([.,])([^0-9])", RegexOptions.Compiled), " $1 $2"),          // ... or unless before a digit
        (new Regex(@"([0-9])(-)", RegexOptions.Compiled), "$1 $2 "),               // a dash after a digit
    ];

    /// <summary>Corpus BLEU of <paramref name="hypotheses"/> against one reference each.</summary>
    public static BleuScore Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<string> references) =>
        Corpus(hypotheses, [references]);

    /// <summary>Corpus BLEU against several references per sentence, given as sacreBLEU takes them: one stream per
    /// reference set, each as long as <paramref name="hypotheses"/>.</summary>
    /// <exception cref="ArgumentException">No reference stream, or a stream of another length.</exception>
    public static BleuScore Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string>> referenceStreams)
    {
        if (referenceStreams.Count == 0) throw new ArgumentException("no references", nameof(referenceStreams));
        foreach (var stream in referenceStreams)
            if (stream.Count != hypotheses.Count)
                throw new ArgumentException($"{hypotheses.Count} hypotheses but a reference stream of {stream.Count}", nameof(referenceStreams));
        var correct = new long[MaxOrder];
        var total = new long[MaxOrder];
        long hypLength = 0, refLength = 0;
        for (int i = 0; i < hypotheses.Count; i++)
        {
            string[] hyp = Words(hypotheses[i]);
            var refNgrams = new Dictionary<string, int>();
            var refLengths = new List<int>();
            foreach (var stream in referenceStreams)
            {
                string[] words = Words(stream[i]);
                refLengths.Add(words.Length);
                foreach (var (gram, count) in Ngrams(words))
                    refNgrams[gram] = Math.Max(count, refNgrams.GetValueOrDefault(gram));
            }
            hypLength += hyp.Length;
            refLength += ClosestLength(hyp.Length, refLengths);
            foreach (var (gram, count) in Ngrams(hyp))
            {
                int n = gram.Count(c => c == ' ') + 1;   // words never contain spaces
                total[n - 1] += count;
                correct[n - 1] += Math.Min(count, refNgrams.GetValueOrDefault(gram));
            }
        }
        return FromStatistics(correct, total, hypLength, refLength);
    }

    /// <summary>BLEU from summed statistics, with sacreBLEU's <c>exp</c> smoothing: 0 when nothing matches at all.</summary>
    public static BleuScore FromStatistics(long[] correct, long[] total, long hypothesisLength, long referenceLength)
    {
        double bp = hypothesisLength >= referenceLength ? 1.0
            : hypothesisLength > 0 ? Math.Exp(1 - (double)referenceLength / hypothesisLength) : 0.0;
        var precisions = new double[MaxOrder];
        if (correct.All(c => c == 0)) return new BleuScore(0, correct, total, precisions, bp, hypothesisLength, referenceLength);
        double smooth = 1;
        for (int n = 0; n < MaxOrder; n++)
        {
            if (total[n] == 0) break;          // shorter than n words everywhere: the precision stays 0 (score 0)
            if (correct[n] == 0)
            {
                smooth *= 2;
                precisions[n] = 100.0 / (smooth * total[n]);
            }
            else precisions[n] = 100.0 * correct[n] / total[n];
        }
        // sacreBLEU's my_log: log(0) is taken as -9999999999, which sends the score to 0.
        double meanLog = precisions.Sum(p => p == 0 ? -9999999999 : Math.Log(p)) / MaxOrder;
        return new BleuScore(bp * Math.Exp(meanLog), correct, total, precisions, bp, hypothesisLength, referenceLength);
    }

    /// <summary>sacreBLEU's <c>13a</c> tokenisation (trailing whitespace removed first, as sacreBLEU does): symbols and
    /// punctuation split off, except periods and commas between digits and dashes not after a digit; single spaces.</summary>
    public static string Tokenize13a(string line)
    {
        line = line.TrimEnd();
        line = line.Replace("<skipped>", "").Replace("-\n", "").Replace("\n", " ");
        if (line.Contains('&')) line = line.Replace("&quot;", "\"").Replace("&amp;", "&").Replace("&lt;", "<").Replace("&gt;", ">");
        line = " " + line + " ";
        foreach (var (pattern, replacement) in Rules13a) line = pattern.Replace(line, replacement);
        return string.Join(' ', line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
    }

    static string[] Words(string line) => Tokenize13a(line).Split(' ', StringSplitOptions.RemoveEmptyEntries);

    static Dictionary<string, int> Ngrams(string[] words)
    {
        var counts = new Dictionary<string, int>();
        for (int n = 1; n <= MaxOrder; n++)
            for (int i = 0; i + n <= words.Length; i++)
            {
                string gram = string.Join(' ', words, i, n);
                counts[gram] = counts.GetValueOrDefault(gram) + 1;
            }
        return counts;
    }

    static int ClosestLength(int hypLength, List<int> refLengths)
    {
        int best = refLengths[0];
        foreach (int r in refLengths)
        {
            int diff = Math.Abs(hypLength - r), bestDiff = Math.Abs(hypLength - best);
            if (diff < bestDiff || (diff == bestDiff && r < best)) best = r;
        }
        return best;
    }
}
