using System.Globalization;
using System.Text;
using System.Text.Json;
using Ptm.IO;

namespace Ptm.Benchmarks.Throughput;

/// <summary>The report as JSON (for tools and later comparison) and as Markdown tables (for people).</summary>
public static class ThroughputReportWriter
{
    public static string ToJson(ThroughputReport report) => JsonSerializer.Serialize(report, ThroughputRunner.Json) + "\n";

    /// <summary>Writes <c>&lt;date&gt;-throughput.json</c> and <c>.md</c> into <paramref name="directory"/>; returns both paths.</summary>
    public static (string Json, string Markdown) Save(ThroughputReport report, string directory)
    {
        string stem = Path.Combine(directory, $"{report.Machine.Date}-throughput");
        AtomicFile.WriteAllText(stem + ".json", ToJson(report));
        AtomicFile.WriteAllText(stem + ".md", ToMarkdown(report));
        return (stem + ".json", stem + ".md");
    }

    public static string ToMarkdown(ThroughputReport r)
    {
        var m = r.Machine;
        var s = new StringBuilder();
        s.AppendLine($"# Throughput {m.Date}{(r.Quick ? " (quick)" : "")}");
        s.AppendLine();
        s.AppendLine($"- CPU: {m.CpuModel}, {m.LogicalCpus} logical CPUs, {m.TorchThreads} torch threads; MKL CPU fix loaded: {YesNo(m.MklCpuFixLoaded)}" +
            (m.MallocTuned is bool tuned ? $"; malloc tuning: {YesNo(tuned)}" : "") +
            $"; .NET gen0 budget: {m.GcGen0Size ?? "runtime default"}" +
            (m.FusedKernels is bool fused ? $"; fused GELU/attention kernels: {YesNo(fused)}" : ""));
        if (m.CpuIsa is not null || m.CpuFeatures is not null)
            s.AppendLine($"- CPU ISA: {m.CpuIsa ?? "this process's own"}{(m.CpuIsaEnvironment is { } e && e != "(none)" ? $" ({e})" : "")}; CPU features seen by the cases: {m.CpuFeatures ?? "unknown"}" +
                (m.CpuIsaNote is { } left ? $"; {left}" : ""));
        s.AppendLine($"- commit {m.GitCommit ?? "unknown"}{(m.GitDirty == true ? " (with uncommitted changes)" : "")}; TorchSharp {m.TorchSharpVersion}, .NET {m.DotnetVersion}; {m.Os}");
        s.AppendLine($"- MFU denominator: {F(r.PeakFp32Gflops, 1)} GFLOP/s ({r.PeakMatmulForMfu})");
        s.AppendLine();

        s.AppendLine("## Training (forward + backward + clip + AdamW)");
        s.AppendLine();
        s.AppendLine("| case | model (L×C, heads, vocab) | batch × block | steps (warm-up + timed) | tokens/s | median step s | FLOP/token | GFLOP/s | MFU | peak RSS MiB | MKL fix |");
        s.AppendLine("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var t in r.Training)
            s.AppendLine($"| {t.Name} | {t.NLayer}×{t.NEmbd}, {t.NHead}, {t.VocabSize} | {t.BatchSize} × {t.BlockSize} | {t.WarmupSteps} + {t.TimedSteps} | " +
                $"{F(t.TokensPerSecond, 0)} | {F(t.MedianStepSeconds, 3)} | {t.FlopsPerToken / 1e6:F1} M | {F(t.AchievedGflops, 1)} | " +
                $"{(t.Mfu is double mfu ? (mfu * 100).ToString("F1", CultureInfo.InvariantCulture) + " %" : "n/a")} | {Mib(t.Memory)} | {OnOff(t.MklCpuFix)} |");
        if (r.MklFix is { } fix)
        {
            s.AppendLine();
            s.AppendLine($"MKL CPU fix on the '{fix.Case}' case: {F(fix.TokensPerSecondWithFix, 0)} vs {F(fix.TokensPerSecondWithoutFix, 0)} tokens/s " +
                $"(×{F(fix.Speedup, 2)}); fp32 matmul {F(fix.MatmulFp32GflopsWithFix, 1)} vs {F(fix.MatmulFp32GflopsWithoutFix, 1)} GFLOP/s.");
        }
        s.AppendLine();

        s.AppendLine("## Generation (greedy, fastest of the repetitions)");
        s.AppendLine();
        s.AppendLine("| case | batch | KV cache | prompt + new tokens | n_positions | tokens/s | decode tokens/s | time to first token ms | total s | peak RSS MiB |");
        s.AppendLine("|---|---:|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var g in r.Generation)
            s.AppendLine($"| {g.Name} | {g.Batch} | {OnOff(g.UseCache)} | {g.PromptTokens} + {g.NewTokens} | {g.NPositions} | {F(g.TokensPerSecond, 1)} | " +
                $"{F(g.DecodeTokensPerSecond, 1)} | {F(g.TimeToFirstTokenMs, 1)} | {F(g.TotalSeconds, 2)} | {Mib(g.Memory)} |");
        var speedups = r.Generation.GroupBy(g => g.Name)
            .Select(c => (Case: c.First(), Cached: c.FirstOrDefault(g => g.UseCache), Uncached: c.FirstOrDefault(g => !g.UseCache)))
            .Where(x => x.Cached is not null && x.Uncached is { TokensPerSecond: > 0 })
            .Select(x => $"×{F(x.Cached!.TokensPerSecond / x.Uncached!.TokensPerSecond, 2)} at batch {x.Case.Batch}").ToList();
        if (speedups.Count > 0)
        {
            s.AppendLine();
            s.AppendLine($"KV cache speed-up: {string.Join(", ", speedups)}.");
        }
        GenerationSuite.AppendMarkdown(s, r);
        s.AppendLine();

        s.AppendLine("## Matmul peak (torch.mm)");
        s.AppendLine();
        s.AppendLine("| dtype | n | repetitions | best GFLOP/s | median GFLOP/s | MKL fix |");
        s.AppendLine("|---|---:|---:|---:|---:|---|");
        foreach (var x in r.Matmul)
            s.AppendLine($"| {x.Dtype} | {x.Size} | {x.Repetitions} | {F(x.BestGflops, 1)} | {F(x.MedianGflops, 1)} | {OnOff(x.MklCpuFix)} |");
        s.AppendLine();
        string scope = r.Training.Concat<object>(r.Generation).Select(o => o switch
        {
            TrainingMeasurement t => t.Memory?.Scope,
            GenerationMeasurement g => g.Memory?.Scope,
            _ => null,
        }).FirstOrDefault(x => x is not null) ?? "unknown";
        s.AppendLine($"Peak RSS is VmHWM ({scope}). Formulas: see benchmarks/README.md.");
        if (r.Contention is { Count: > 0 } contention) ContentionReportWriter.Append(s, contention);
        if (r.Tokenizers is { } tokenizers)
        {
            s.AppendLine();
            TokenizerReportWriter.Append(s, tokenizers);
        }
        if (r.Peer is { } peer)
        {
            s.AppendLine();
            AppendPeer(s, peer);
        }
        PairedRounds.AppendMarkdown(s, r.Paired);
        return s.ToString();
    }

    /// <summary>The side-by-side section: Ptm against the PyTorch peer, case by case, or why the peer did not run.</summary>
    public static void AppendPeer(StringBuilder s, PeerSection peer)
    {
        s.AppendLine("## PyTorch peer (eager; fp32, and torch.autocast bf16 in the -bf16 cases; same shapes and threads)");
        s.AppendLine();
        if (!peer.Available)
        {
            s.AppendLine($"Not run: {peer.Reason}.");
            return;
        }
        var p = peer.Result;
        string blas = p?.Blas is { } b
            ? (b.Openblas ? "OpenBLAS" : "not OpenBLAS") + (b.Core is string core ? $" core {core}" : "") + $" ({string.Join(", ", b.Libraries ?? [])})"
            : "unknown";
        s.AppendLine($"- torch {p?.TorchVersion ?? "?"}, {p?.Threads?.ToString(CultureInfo.InvariantCulture) ?? "?"} threads, BLAS: {blas}; " +
            $"ATen CPU capability: {p?.CpuCapability ?? "unknown"}; " +
            $"attention: {(p?.Sdpa == true ? "scaled_dot_product_attention" : "explicit softmax(QKᵀ)V (no SDPA in this torch)")}");
        if (peer.Environment is { } env)
            s.AppendLine($"- environment (CPU ISA {env.CpuIsa}): LD_PRELOAD={env.LdPreload ?? "(none)"}, OMP_NUM_THREADS={env.Threads}" +
                string.Concat((env.Set ?? new Dictionary<string, string>()).Select(kv => $", {kv.Key}={kv.Value}")) +
                $", unset {string.Join(", ", env.Unset)}");
        if (peer.Note is not null) s.AppendLine($"- note: {peer.Note}");
        s.AppendLine();
        s.AppendLine("| case | metric | Ptm | PyTorch | Ptm / PyTorch | Ptm peak RSS MiB | PyTorch peak RSS MiB |");
        s.AppendLine("|---|---|---:|---:|---:|---:|---:|");
        foreach (var row in peer.Comparison)
        {
            int decimals = row.Metric.StartsWith("training", StringComparison.Ordinal) ? 0 : 1;
            s.AppendLine($"| {row.Case} | {row.Metric} | {F(row.Ptm, decimals)} | {F(row.Pytorch, decimals)} | " +
                $"{(row.Ratio is double x ? "×" + F(x, 2) : "n/a")} | {F(row.PtmPeakRssMib, 0)} | {F(row.PytorchPeakRssMib, 0)} |");
        }
        s.AppendLine();
        s.AppendLine("Ratios above 1 mean Ptm is faster. Each peer case also runs in a process of its own; its peak RSS is ru_maxrss.");
    }

    static string F(double? value, int decimals) =>
        value is double v && double.IsFinite(v) ? v.ToString("F" + decimals, CultureInfo.InvariantCulture) : "n/a";

    static string Mib(MemoryPeak? memory) => memory is null ? "n/a" : F(memory.PeakRssMib, 0);
    static string OnOff(bool value) => value ? "on" : "off";
    static string YesNo(bool value) => value ? "yes" : "no";
}
