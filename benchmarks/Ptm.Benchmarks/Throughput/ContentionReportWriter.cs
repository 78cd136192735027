using System.Globalization;
using System.Text;

namespace Ptm.Benchmarks.Throughput;

/// <summary>The "machine load" table: how many CPUs other processes took while each case ran.</summary>
public static class ContentionReportWriter
{
    /// <summary>Above this many CPUs taken by others a case's figures are marked as disturbed.</summary>
    public const double DisturbedAbove = 0.2;

    public static void Append(StringBuilder s, IReadOnlyList<CaseContention> contention)
    {
        s.AppendLine();
        s.AppendLine("## Machine load during each case");
        s.AppendLine();
        s.AppendLine("CPUs that other processes (and the hypervisor, as steal time) kept busy while the case ran, from /proc/stat; " +
            $"above {DisturbedAbove.ToString(CultureInfo.InvariantCulture)} the case's timings are marked as disturbed.");
        s.AppendLine();
        s.AppendLine("| case | MKL fix | wall s | other processes' CPUs | |");
        s.AppendLine("|---|---|---:|---:|---|");
        foreach (var c in contention)
        {
            string other = double.IsFinite(c.OtherCpus) ? c.OtherCpus.ToString("F2", CultureInfo.InvariantCulture) : "n/a";
            string flag = c.OtherCpus > DisturbedAbove ? "disturbed" : "";
            s.AppendLine($"| {c.Case} | {(c.MklCpuFix ? "on" : "off")} | {c.WallSeconds.ToString("F1", CultureInfo.InvariantCulture)} | {other} | {flag} |");
        }
    }
}
