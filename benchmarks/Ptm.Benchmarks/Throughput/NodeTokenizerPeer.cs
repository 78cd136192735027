using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace Ptm.Benchmarks.Throughput;

/// <summary>
/// Runs <c>benchmarks/peers/node/tokenizer_peer.js</c> (js-tiktoken and gpt-3-encoder, GPT-2's vocabulary) on the
/// same lines as <see cref="TokenizerThroughput"/>. A missing node or missing npm modules give a note, not a failure.
/// </summary>
public static class NodeTokenizerPeer
{
    /// <summary>The node executable; override with PTM_PEER_NODE.</summary>
    public const string DefaultNode = "node";

    public static string Script => RepoPaths.InRepo("benchmarks", "peers", "node", "tokenizer_peer.js");

    /// <summary>What the script prints (snake_case JSON).</summary>
    public sealed record Report(bool Available, string? Reason, string? NodeVersion, int Lines, long Bytes, IReadOnlyList<Result>? Results, IReadOnlyList<string>? Missing);

    public sealed record Result(string Implementation, string? PackageVersion, int Lines, long Bytes, long Tokens, string IdsChecksum,
        int Repetitions, double FirstPassSeconds, double BestSeconds, double MedianSeconds);

    /// <summary>Runs the script and turns its results into rows; <paramref name="ptmBpe"/> supplies the ids checksum
    /// the node encoders must reproduce.</summary>
    public static (IReadOnlyList<TokenizerMeasurement> Results, IReadOnlyList<string> Notes) Run(TokenizerCase c, TokenizerMeasurement ptmBpe)
    {
        string node = Environment.GetEnvironmentVariable("PTM_PEER_NODE") is { Length: > 0 } n ? n : DefaultNode;
        var start = new ProcessStartInfo(node) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in new[] { Script, "--corpus", c.CorpusPath, "--repetitions", c.Repetitions.ToString() }) start.ArgumentList.Add(a);
        if (c.MaxBytes is long max) { start.ArgumentList.Add("--max-bytes"); start.ArgumentList.Add(max.ToString()); }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new Win32Exception($"could not start {node}");
        }
        catch (Win32Exception e)
        {
            return ([], [$"node peer skipped: cannot start '{node}' ({e.Message}); install Node.js or set PTM_PEER_NODE"]);
        }
        string output, error;
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            output = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            error = stderr.Result;
            if (process.ExitCode != 0)
                return ([], [$"node peer failed with exit code {process.ExitCode}: {LastLine(error)}"]);
        }

        Report report;
        try
        {
            report = JsonSerializer.Deserialize<Report>(output, ThroughputRunner.Json) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            return ([], [$"node peer printed something other than its JSON report: {e.Message}"]);
        }
        var notes = new List<string>();
        if (!report.Available) return ([], [$"node peer skipped: {report.Reason}"]);
        foreach (string m in report.Missing ?? []) notes.Add($"node peer: {m} (npm ci in benchmarks/peers/node)");
        if (report.Lines != ptmBpe.Lines || report.Bytes != ptmBpe.Bytes)
            notes.Add($"node peer read {report.Lines} lines / {report.Bytes} bytes, Ptm {ptmBpe.Lines} / {ptmBpe.Bytes}: the corpus was split differently");

        var rows = new List<TokenizerMeasurement>();
        foreach (var r in report.Results ?? [])
        {
            bool same = r.Tokens == ptmBpe.Tokens && r.IdsChecksum == ptmBpe.IdsChecksum;
            if (!same)
                notes.Add($"{r.Implementation} gave other ids than Ptm ({r.Tokens} tokens, checksum {r.IdsChecksum} vs {ptmBpe.Tokens}, {ptmBpe.IdsChecksum}): not a like-for-like comparison");
            rows.Add(new TokenizerMeasurement(TokenizerCase.Bpe, $"{r.Implementation} {r.PackageVersion}", $"node {report.NodeVersion}",
                r.Lines, r.Bytes, r.Tokens, r.IdsChecksum, r.Repetitions, r.FirstPassSeconds, r.BestSeconds, r.MedianSeconds,
                r.Bytes / r.MedianSeconds / 1e6, r.Bytes / r.BestSeconds / 1e6, r.Bytes / r.FirstPassSeconds / 1e6, same));
        }
        return (rows, notes);
    }

    static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "(no output)";
}
