using System.Globalization;
using System.Text;

namespace Ptm.Benchmarks.Throughput;

/// <summary>One round of one training case: Ptm's child and the peer's child run back to back.</summary>
/// <param name="PtmFirst">Which side ran first; rounds alternate, so neither side always gets the fresher minute.</param>
/// <param name="PtmWithoutKernelsTokensPerSecond">Ptm again with its kernels off (PTM_KERNELS=off), run next
/// to Ptm's child on the side away from the peer; null for cases the kernels do not touch.</param>
public sealed record PairedRound(int Round, bool PtmFirst, double PtmTokensPerSecond, double PeerTokensPerSecond,
    double? PtmWithoutKernelsTokensPerSecond = null)
{
    public double Ratio => PtmTokensPerSecond / PeerTokensPerSecond;

    /// <summary>Ptm with the kernels off over the peer: what the ratio would be without them, in the same round.</summary>
    public double? RatioWithoutKernels => PtmWithoutKernelsTokensPerSecond / PeerTokensPerSecond;

    /// <summary>Ptm with the kernels over Ptm without them.</summary>
    public double? KernelGain => PtmTokensPerSecond / PtmWithoutKernelsTokensPerSecond;
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
    public double? MedianRatioWithoutKernels => MedianOrNull(Rounds.Select(r => r.RatioWithoutKernels));
    public double? MedianKernelGain => MedianOrNull(Rounds.Select(r => r.KernelGain));

    static double? MedianOrNull(IEnumerable<double?> values)
    {
        var known = values.OfType<double>().ToList();
        return known.Count == 0 ? null : Median(known);
    }

    static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n == 0 ? double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}

/// <summary>
/// The paired rounds of one <see cref="CpuIsa"/> mode, with what each side was told and what it reports it ran.
/// </summary>
/// <param name="CpuIsa">The mode's name (<see cref="CpuIsaEnvironment.Name"/>).</param>
/// <param name="PtmEnvironment">The variables the mode set in Ptm's children (<see cref="CpuIsaEnvironment.Describe"/>).</param>
/// <param name="PtmCpuFeatures">What Ptm's children saw of the CPU (<see cref="Ptm.Kernels.CpuFeatures.Describe"/>).</param>
/// <param name="PeerEnvironment">The variables the mode set in the peer's children.</param>
/// <param name="PeerBlas">The BLAS the peer's children mapped and the OpenBLAS core they ran.</param>
/// <param name="PeerCpuCapability">The instruction set ATen dispatched to in the peer's children.</param>
/// <param name="Notes">Where the peer ran something else than it was asked to (<see cref="PeerRunner.Mismatches"/>).</param>
public sealed record PairedSet(string CpuIsa, string PtmEnvironment, string? PtmCpuFeatures, string PeerEnvironment,
    PeerBlas? PeerBlas, string? PeerCpuCapability, IReadOnlyList<string> Notes, IReadOnlyList<PairedCase> Cases);

/// <summary><c>throughput --peer --paired-rounds N</c>: every training case, N rounds of Ptm and the peer back to back.</summary>
public static class PairedRounds
{
    /// <summary>The training cases to pair under <paramref name="isa"/> (<see cref="CpuIsaEnvironment.PlanFor"/>), and
    /// a note naming those left out (null when none).</summary>
    public static (IReadOnlyList<string> Cases, string? Note) TrainingCases(ThroughputPlan plan, CpuIsa isa)
    {
        static List<string> Names(ThroughputPlan p) =>
            ThroughputRunner.CaseNames(p).Where(n => n.StartsWith(ThroughputRunner.TrainCasePrefix, StringComparison.Ordinal)).ToList();
        var (restricted, note) = CpuIsaEnvironment.PlanFor(plan, isa);
        return (Names(restricted), note);
    }

    /// <param name="runPtm">Runs a case (e.g. <c>train:default</c>) in Ptm's child and returns its training tokens/s.</param>
    /// <param name="runPeer">The same in the peer's child.</param>
    /// <param name="runPtmWithoutKernels">The same in Ptm's child with the fused kernels off, for the cases in
    /// <paramref name="kernelCases"/>; it runs next to Ptm's child, so Ptm and the peer stay back to back
    /// (odd rounds: without, Ptm, peer; even rounds: peer, Ptm, without).</param>
    public static IReadOnlyList<PairedCase> Run(IEnumerable<string> caseNames, int rounds,
        Func<string, double> runPtm, Func<string, double> runPeer, Action<string> log,
        Func<string, double>? runPtmWithoutKernels = null, IReadOnlySet<string>? kernelCases = null)
    {
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), "at least one round");
        var names = caseNames.ToList();
        var byCase = names.ToDictionary(n => n, _ => new List<PairedRound>());
        for (int round = 1; round <= rounds; round++)
            foreach (string name in names)
            {
                bool ptmFirst = round % 2 == 1;
                bool withoutKernels = runPtmWithoutKernels is not null && kernelCases?.Contains(name) == true;
                double ptm, peer;
                double? off = null;
                if (ptmFirst)
                {
                    if (withoutKernels) off = runPtmWithoutKernels!(name);
                    ptm = runPtm(name);
                    peer = runPeer(name);
                }
                else
                {
                    peer = runPeer(name);
                    ptm = runPtm(name);
                    if (withoutKernels) off = runPtmWithoutKernels!(name);
                }
                var r = new PairedRound(round, ptmFirst, ptm, peer, off);
                log($"  round {round} {name}: Ptm {ptm:F0}, peer {peer:F0} tok/s, ×{r.Ratio:F2}" +
                    (off is double o ? $"; Ptm without fused kernels {o:F0} tok/s, ×{r.RatioWithoutKernels:F2}" : ""));
                byCase[name].Add(r);
            }
        return names.Select(n => new PairedCase(n, byCase[n])).ToList();
    }

    /// <summary>One section per mode: how each side ran, then the table.</summary>
    public static void AppendMarkdown(StringBuilder s, IReadOnlyList<PairedSet>? sets)
    {
        foreach (var set in sets ?? [])
        {
            var paired = set.Cases;
            if (paired.Count == 0) continue;
            s.AppendLine();
            s.AppendLine($"## Paired rounds, CPU ISA {set.CpuIsa}: Ptm and the peer back to back ({paired[0].Rounds.Count} rounds, alternating who goes first)");
            s.AppendLine();
            string blas = set.PeerBlas is { } b ? $"OpenBLAS core {b.Core ?? "unknown"}{(b.Openblas ? "" : " (OpenBLAS not loaded)")}" : "BLAS unknown";
            s.AppendLine($"- Ptm: {set.PtmEnvironment}; CPU features seen: {set.PtmCpuFeatures ?? "unknown"}");
            s.AppendLine($"- PyTorch: {set.PeerEnvironment}; ran {blas}, ATen CPU capability {set.PeerCpuCapability ?? "unknown"}");
            foreach (string note in set.Notes) s.AppendLine($"- note: {note}");
            s.AppendLine();
            AppendTable(s, paired);
        }
    }

    static void AppendTable(StringBuilder s, IReadOnlyList<PairedCase> paired)
    {
        static string F(double v, int d) => v.ToString("F" + d, CultureInfo.InvariantCulture);
        s.AppendLine("| case | Ptm tokens/s (median) | PyTorch tokens/s (median) | Ptm / PyTorch, median of rounds | lowest | highest | per round | without fused kernels: Ptm / PyTorch | kernels on / off |");
        s.AppendLine("|---|---:|---:|---:|---:|---:|---|---:|---:|");
        static string Times(double? v) => v is double x ? "×" + F(x, 2) : "";
        foreach (var c in paired)
            s.AppendLine($"| {c.Case} | {F(c.MedianPtmTokensPerSecond, 0)} | {F(c.MedianPeerTokensPerSecond, 0)} | ×{F(c.MedianRatio, 2)} | " +
                $"×{F(c.MinRatio, 2)} | ×{F(c.MaxRatio, 2)} | {string.Join(", ", c.Rounds.Select(r => "×" + F(r.Ratio, 2)))} | " +
                $"{Times(c.MedianRatioWithoutKernels)} | {Times(c.MedianKernelGain)} |");
    }
}
