using System.Globalization;
using System.Text;

namespace Ptm.Benchmarks.Throughput;

/// <summary>One round of one training case: Ptm's child and the peer's child run back to back.</summary>
/// <param name="PtmFirst">Which side ran first; rounds alternate, so neither side always gets the fresher minute.</param>
public sealed record PairedRound(int Round, bool PtmFirst, double PtmTokensPerSecond, double PeerTokensPerSecond)
{
    public double Ratio => PtmTokensPerSecond / PeerTokensPerSecond;
}

/// <summary>
/// A training case measured in paired rounds. This VM's speed drifts by ±20% over minutes (its neighbours), and in
/// the plain <c>--peer</c> run all Ptm cases come first and the peer's minutes later, so a ratio there can be off
/// by that much; the median of per-round ratios taken seconds apart is the figure to compare against a target.
/// </summary>
public sealed record PairedCase(string Case, IReadOnlyList<PairedRound> Rounds)
{
    public double MedianRatio => Median(Rounds.Select(r => r.Ratio));
    public double MinRatio => Rounds.Min(r => r.Ratio);
    public double MaxRatio => Rounds.Max(r => r.Ratio);
    public double MedianPtmTokensPerSecond => Median(Rounds.Select(r => r.PtmTokensPerSecond));
    public double MedianPeerTokensPerSecond => Median(Rounds.Select(r => r.PeerTokensPerSecond));

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n == 0 ? double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}

/// <summary><c>throughput --peer --paired-rounds N</c>: every training case, N rounds of Ptm and the peer back to back.</summary>
public static class PairedRounds
{
    /// <param name="runPtm">Runs a case (e.g. <c>train:default</c>) in Ptm's child and returns its training tokens/s.</param>
    /// <param name="runPeer">The same in the peer's child.</param>
    public static IReadOnlyList<PairedCase> Run(IEnumerable<string> caseNames, int rounds,
        Func<string, double> runPtm, Func<string, double> runPeer, Action<string> log)
    {
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), "at least one round");
        var names = caseNames.ToList();
        var byCase = names.ToDictionary(n => n, _ => new List<PairedRound>());
        for (int round = 1; round <= rounds; round++)
            foreach (string name in names)
            {
                bool ptmFirst = round % 2 == 1;
                double ptm, peer;
                if (ptmFirst)
                {
                    ptm = runPtm(name);
                    peer = runPeer(name);
                }
                else
                {
                    peer = runPeer(name);
                    ptm = runPtm(name);
                }
                var r = new PairedRound(round, ptmFirst, ptm, peer);
                log($"  round {round} {name}: Ptm {ptm:F0}, peer {peer:F0} tok/s, ×{r.Ratio:F2}");
                byCase[name].Add(r);
            }
        return names.Select(n => new PairedCase(n, byCase[n])).ToList();
    }

    public static void AppendMarkdown(StringBuilder s, IReadOnlyList<PairedCase>? paired)
    {
        if (paired is not { Count: > 0 }) return;
        static string F(double v, int d) => v.ToString("F" + d, CultureInfo.InvariantCulture);
        s.AppendLine();
        s.AppendLine($"## Paired rounds: Ptm and the peer back to back ({paired[0].Rounds.Count} rounds, alternating who goes first)");
        s.AppendLine();
        s.AppendLine("| case | Ptm tokens/s (median) | PyTorch tokens/s (median) | Ptm / PyTorch, median of rounds | lowest | highest | per round |");
        s.AppendLine("|---|---:|---:|---:|---:|---:|---|");
        foreach (var c in paired)
            s.AppendLine($"| {c.Case} | {F(c.MedianPtmTokensPerSecond, 0)} | {F(c.MedianPeerTokensPerSecond, 0)} | ×{F(c.MedianRatio, 2)} | " +
                $"×{F(c.MinRatio, 2)} | ×{F(c.MaxRatio, 2)} | {string.Join(", ", c.Rounds.Select(r => "×" + F(r.Ratio, 2)))} |");
    }
}
