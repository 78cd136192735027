using System.Text.Json;

namespace Ptm.Benchmarks.Throughput;

/// <summary>What <c>benchmarks/peers/pytorch_peer.py</c> prints: one JSON object (snake_case). Fields the peer adds
/// beyond these (threadpoolctl details) are ignored here.</summary>
/// <param name="CpuCapability">The vector instruction set ATen's kernels dispatch to in the peer ("AVX2", "AVX512").</param>
/// <param name="Env">The instruction-set and BLAS variables as the peer's process saw them.</param>
public sealed record PeerReport(
    bool Available, string? Reason, string? Peer, string? TorchVersion, int? Threads, bool? Sdpa, PeerBlas? Blas,
    IReadOnlyList<PeerCase>? Cases, IReadOnlyList<PeerMatmul>? Matmul, IReadOnlyList<PeerTraining>? Training,
    IReadOnlyList<PeerGeneration>? Generation, PeerGenerationMemory? GenerationMemory = null, string? CpuCapability = null,
    IReadOnlyDictionary<string, string?>? Env = null)
{
    public static PeerReport Parse(string json) =>
        JsonSerializer.Deserialize<PeerReport>(json, ThroughputRunner.Json)
        ?? throw new InvalidOperationException("the peer printed null instead of a JSON object");
}

/// <summary>BLAS libraries mapped into the peer's process (from /proc/self/maps), whether one is OpenBLAS, and the
/// kernel set OpenBLAS picked at load (<c>openblas_get_corename</c>: "Haswell", "SkylakeX", "Cooperlake"…).</summary>
public sealed record PeerBlas(IReadOnlyList<string>? Libraries, bool Openblas, string? Core = null);

/// <summary>What one peer child ran: its training figure and what it reported of its BLAS and ATen dispatch.</summary>
public sealed record PeerCaseRun(PeerTraining Training, PeerBlas? Blas, string? CpuCapability);

/// <summary>One peer case's process: its peak RSS, why it failed, or what it could not measure (<paramref name="Note"/>).</summary>
public sealed record PeerCase(string Case, double? PeakRssMib, string? Error, string? Note = null);

public sealed record PeerMatmul(string Dtype, int Size, int Repetitions, double BestGflops, double MedianGflops, double? PeakRssMib);

public sealed record PeerTraining(
    string Name, int BatchSize, int BlockSize, int TimedSteps, double[]? StepSeconds, double MedianStepSeconds,
    double TokensPerSecond, double FinalLoss, long ParameterCount, double? PeakRssMib);

public sealed record PeerGeneration(
    string Name, bool UseCache, int NewTokens, double TokensPerSecond, double DecodeTokensPerSecond,
    double TimeToFirstTokenMs, double? PeakRssMib, int Batch = 1);

/// <summary>How the peer process was started: the interpreter, the preloaded BLAS, what was unset, the threads, and
/// the instruction-set mode with the variables it set (<see cref="CpuIsaEnvironment.Peer"/>).</summary>
public sealed record PeerEnvironment(string Python, string Script, string? LdPreload, IReadOnlyList<string> Unset, int Threads,
    string CpuIsa = "native", IReadOnlyDictionary<string, string>? Set = null);

/// <summary>One side-by-side figure. <paramref name="Ratio"/> is Ptm / PyTorch, so above 1 means Ptm is faster
/// (for throughputs; every metric here is higher-is-better).</summary>
public sealed record PeerComparisonRow(
    string Case, string Metric, double? Ptm, double? Pytorch, double? Ratio, double? PtmPeakRssMib, double? PytorchPeakRssMib);

/// <summary>The peer part of the report: either the comparison or why there is none.</summary>
public sealed record PeerSection(
    bool Available, string? Reason, string? Note, PeerEnvironment? Environment, PeerReport? Result,
    IReadOnlyList<PeerComparisonRow> Comparison)
{
    public static PeerSection Unavailable(string reason, PeerEnvironment? environment) =>
        new(false, reason, null, environment, null, []);

    /// <summary>Pairs each Ptm figure of <paramref name="ptm"/> with the peer's figure for the same case.</summary>
    public static PeerSection Compare(ThroughputReport ptm, PeerReport peer, PeerEnvironment? environment)
    {
        if (!peer.Available) return new(false, peer.Reason ?? "the peer reported itself unavailable", null, environment, peer, []);
        var rows = new List<PeerComparisonRow>();
        static double? Ratio(double? a, double? b) => a is double x && b is double y && y > 0 ? x / y : null;

        // The MKL-fix-off repeats are a Ptm-internal comparison; the peer is set against the default run.
        foreach (var t in ptm.Training.Where(t => t.MklCpuFix || !ptm.Training.Any(o => o.Name == t.Name && o.MklCpuFix)))
        {
            var p = peer.Training?.FirstOrDefault(x => x.Name == t.Name);
            rows.Add(new($"{ThroughputRunner.TrainCasePrefix}{t.Name}", "training tokens/s", t.TokensPerSecond, p?.TokensPerSecond,
                Ratio(t.TokensPerSecond, p?.TokensPerSecond), t.Memory?.PeakRssMib, p?.PeakRssMib));
        }
        foreach (var g in ptm.Generation)
        {
            var p = peer.Generation?.FirstOrDefault(x => x.Name == g.Name && x.UseCache == g.UseCache);
            rows.Add(new($"{ThroughputRunner.GenerateCase}{(g.Batch > 1 ? $" batch {g.Batch}" : "")} ({(g.UseCache ? "KV cache" : "no cache")})", "generated tokens/s",
                g.TokensPerSecond, p?.TokensPerSecond, Ratio(g.TokensPerSecond, p?.TokensPerSecond), g.Memory?.PeakRssMib, p?.PeakRssMib));
        }
        // One row per dtype: the best of the fix-on runs (the matmul case runs twice with the fix, see ThroughputRunner.Run).
        var bestMatmul = ptm.Matmul.Where(m => m.MklCpuFix || !ptm.Matmul.Any(o => o.Dtype == m.Dtype && o.MklCpuFix))
            .GroupBy(m => (m.Dtype, m.Size)).Select(g => g.MaxBy(m => m.BestGflops)!);
        foreach (var m in bestMatmul)
        {
            var p = peer.Matmul?.FirstOrDefault(x => x.Dtype == m.Dtype && x.Size == m.Size);
            rows.Add(new($"{ThroughputRunner.MatmulCase} {m.Dtype} {m.Size}²", "best GFLOP/s", m.BestGflops, p?.BestGflops,
                Ratio(m.BestGflops, p?.BestGflops), m.Memory?.PeakRssMib, p?.PeakRssMib));
        }

        rows.AddRange(GenerationSuite.PeerRows(ptm, peer));

        var notes = new List<string>();
        if (peer.Blas is { Openblas: false })
            notes.Add("the peer did not load OpenBLAS (reference BLAS is 27-43x slower): its numbers are not a fair comparison");
        if (peer.Threads is int threads && threads != ptm.Machine.TorchThreads)
            notes.Add($"the peer ran {threads} threads, Ptm {ptm.Machine.TorchThreads}");
        foreach (var c in peer.Cases ?? [])
        {
            if (c.Error is not null) notes.Add($"peer case {c.Case} failed: {c.Error}");
            if (c.Note is not null) notes.Add($"peer case {c.Case}: {c.Note}");
        }
        if (environment is not null) notes.AddRange(PeerRunner.Mismatches(environment, peer.Blas, peer.CpuCapability));
        return new(true, null, notes.Count == 0 ? null : string.Join("; ", notes), environment, peer, rows);
    }
}
