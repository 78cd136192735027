using System.Globalization;
using System.Text;

namespace Ptm.Benchmarks.Throughput;

/// <summary>The tokenizer section of the Markdown report.</summary>
public static class TokenizerReportWriter
{
    public static void Append(StringBuilder s, TokenizerSection t)
    {
        s.AppendLine("## Tokenizers (encode line by line, one thread)");
        s.AppendLine();
        s.AppendLine($"Corpus: {t.Corpus}, {t.Lines} lines, {t.Bytes / 1e6:F2} MB of UTF-8 (newlines not counted). " +
            "MB/s = bytes / seconds / 10⁶ of the median pass after a first, cold-cache pass; Ptm / other above 1 means Ptm is faster.");
        s.AppendLine();
        s.AppendLine("| tokenizer | implementation | runtime | tokens | MB/s (median) | MB/s (best) | first pass MB/s | same ids as Ptm | Ptm / other |");
        s.AppendLine("|---|---|---|---:|---:|---:|---:|---|---:|");
        foreach (var r in t.Results)
        {
            var ptm = t.Results.FirstOrDefault(x => x.Tokenizer == r.Tokenizer && x.IdsMatchPtm is null);
            string ratio = ptm is null || ReferenceEquals(ptm, r) || r.IdsMatchPtm != true ? "" : "×" + F(ptm.MbPerSecond / r.MbPerSecond, 2);
            string same = r.IdsMatchPtm switch { null => "(reference)", true => "yes", false => "**no**" };
            s.AppendLine($"| {r.Tokenizer} | {r.Implementation} | {r.Runtime} | {r.Tokens} | {F(r.MbPerSecond, 2)} | {F(r.BestMbPerSecond, 2)} | " +
                $"{F(r.FirstPassMbPerSecond, 2)} | {same} | {ratio} |");
        }
        foreach (string note in t.Notes) s.AppendLine($"- note: {note}");
    }

    static string F(double value, int decimals) =>
        double.IsFinite(value) ? value.ToString("F" + decimals, CultureInfo.InvariantCulture) : "n/a";
}
