using System.Diagnostics;
using System.Globalization;
using System.Text;
using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Kernels;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Throughput;

/// <summary>Long cached generation of one sequence, resident memory read every <paramref name="SampleEvery"/> tokens.</summary>
public sealed record GenerationMemoryCase(string Name, GptConfig Model, int PromptTokens, int NewTokens, int SampleEvery, long Seed = 1337);

/// <summary>
/// VmRSS after <paramref name="Tokens"/> new tokens, with what it is made of: glibc's heap in use and free inside it
/// (<see cref="NativeHeap"/>; null off glibc) and the .NET GC heap (<see cref="GC.GetTotalMemory(bool)"/>).
/// </summary>
public sealed record RssSample(int Tokens, double RssMib, double? NativeInUseMib = null, double? NativeFreeMib = null, double? ManagedMib = null);

/// <summary>
/// Resident memory over a long cached generation. <paramref name="SlopeMibPer1000Tokens"/> is the least-squares slope
/// of RSS over tokens through the samples from <paramref name="SampleEvery"/> on: flat memory means a slope near 0.
/// </summary>
/// <param name="RssStartMib">VmRSS once the model exists and a 4-token warm-up ran, before the first token.</param>
/// <param name="FirstMib">VmRSS at the first sample (after <paramref name="SampleEvery"/> tokens).</param>
/// <param name="LiveTensorsBefore">TorchSharp's live-tensor count of this thread before generating; with
/// <paramref name="LiveTensorsAfter"/>, shows that nothing leaks per token.</param>
public sealed record GenerationMemoryMeasurement(
    string Name, int PromptTokens, int NewTokens, int NPositions, int SampleEvery, IReadOnlyList<RssSample> Samples,
    double RssStartMib, double FirstMib, double LastMib, double MaxMib, double SlopeMibPer1000Tokens,
    double TokensPerSecond, long LiveTensorsBefore, long LiveTensorsAfter, bool MklCpuFix, MemoryPeak? Memory = null)
{
    /// <summary>Slope of glibc's in-use bytes: what tensors and other native allocations hold (null off glibc).</summary>
    public double? NativeInUseSlopeMibPer1000Tokens { get; init; }

    /// <summary>Slope of the .NET GC heap.</summary>
    public double? ManagedSlopeMibPer1000Tokens { get; init; }
}

/// <summary>The generation cases beyond batch 1: a batched case and the long-run memory case.</summary>
public static class GenerationSuite
{
    public const string MemoryCaseName = ThroughputRunner.GenerateCase + ":memory";

    public static string BatchedCaseName(GenerationCase c) => $"{ThroughputRunner.GenerateCase}:{c.Name}";

    /// <summary>The cases of <paramref name="plan"/> this suite runs, after the batch-1 <c>generate</c>.</summary>
    public static IEnumerable<string> CaseNames(ThroughputPlan plan)
    {
        if (plan.BatchedGeneration is { } b) yield return BatchedCaseName(b);
        if (plan.GenerationMemory is not null) yield return MemoryCaseName;
    }

    /// <summary>Runs <paramref name="name"/> if it is one of this suite's cases.</summary>
    public static bool TryRun(ThroughputPlan plan, string name, List<GenerationMeasurement> generation, out GenerationMemoryMeasurement? memory)
    {
        memory = null;
        if (plan.BatchedGeneration is { } b && name == BatchedCaseName(b))
        {
            generation.AddRange(ThroughputMeasurements.MeasureGeneration(b));
            return true;
        }
        if (plan.GenerationMemory is { } m && name == MemoryCaseName)
        {
            memory = MeasureMemory(m);
            return true;
        }
        return false;
    }

    /// <summary>Greedy cached generation of <see cref="GenerationMemoryCase.NewTokens"/> tokens (the window slides many
    /// times), reading VmRSS every <see cref="GenerationMemoryCase.SampleEvery"/> tokens.</summary>
    public static GenerationMemoryMeasurement MeasureMemory(GenerationMemoryCase c)
    {
        if (c.SampleEvery <= 0 || c.NewTokens < c.SampleEvery) throw new ArgumentException("need at least one sample", nameof(c));
        manual_seed(c.Seed);
        using var model = new Gpt(c.Model);
        model.eval();
        var generator = new TextGenerator(model, new CharTokenizer(["a"]));
        var rng = new Random((int)c.Seed);
        int[] prompt = Enumerable.Range(0, c.PromptTokens).Select(_ => rng.Next(c.Model.VocabSize)).ToArray();
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = c.NewTokens, Seed = c.Seed };
        // A few tokens first, so the model's one-time caches (SplitRowProduct's weight views) exist before counting.
        foreach (int _ in generator.GenerateIds(prompt, options with { MaxNewTokens = 4 })) { }

        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        double start = ProcessMemory.RssMib();
        var samples = new List<RssSample>();
        int produced = 0;
        var clock = Stopwatch.StartNew();
        foreach (int _ in generator.GenerateIds(prompt, options))
            if (++produced % c.SampleEvery == 0)
            {
                var heap = NativeHeap.Read();
                samples.Add(new RssSample(produced, ProcessMemory.RssMib(), heap?.InUseMib, heap?.FreeMib, GC.GetTotalMemory(false) / (1024.0 * 1024.0)));
            }
        double seconds = clock.Elapsed.TotalSeconds;
        long liveAfter = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        return new GenerationMemoryMeasurement(
            c.Name, c.PromptTokens, produced, c.Model.NPositions, c.SampleEvery, samples, start,
            samples[0].RssMib, samples[^1].RssMib, samples.Max(s => s.RssMib), SlopePer1000(samples),
            produced / seconds, liveBefore, liveAfter, TorchRuntime.MklCpuFixLoaded)
        {
            NativeInUseSlopeMibPer1000Tokens = samples.All(s => s.NativeInUseMib is not null) ? SlopePer1000(samples, s => s.NativeInUseMib!.Value) : null,
            ManagedSlopeMibPer1000Tokens = SlopePer1000(samples, s => s.ManagedMib ?? 0),
        };
    }

    /// <summary>Least-squares slope of RSS (MiB) against tokens, per 1000 tokens; 0 for fewer than two samples.</summary>
    public static double SlopePer1000(IReadOnlyList<RssSample> samples) => SlopePer1000(samples, s => s.RssMib);

    /// <summary>The same slope for another of the samples' figures.</summary>
    public static double SlopePer1000(IReadOnlyList<RssSample> samples, Func<RssSample, double> mib)
    {
        if (samples.Count < 2) return 0;
        double mx = samples.Average(s => (double)s.Tokens), my = samples.Average(mib);
        double sxy = samples.Sum(s => (s.Tokens - mx) * (mib(s) - my));
        double sxx = samples.Sum(s => (s.Tokens - mx) * (s.Tokens - mx));
        return sxx > 0 ? sxy / sxx * 1000 : 0;
    }

    /// <summary>The memory case set against the peer's: last RSS and slope.</summary>
    public static IEnumerable<PeerComparisonRow> PeerRows(ThroughputReport ptm, PeerReport peer)
    {
        if (ptm.GenerationMemory is not { } m) yield break;
        var p = peer.GenerationMemory;
        yield return new PeerComparisonRow($"{MemoryCaseName} ({m.NewTokens} tokens)", "generated tokens/s", m.TokensPerSecond,
            p?.TokensPerSecond, p is { TokensPerSecond: > 0 } ? m.TokensPerSecond / p.TokensPerSecond : null, m.Memory?.PeakRssMib, p?.PeakRssMib);
    }

    public static void AppendMarkdown(StringBuilder s, ThroughputReport r)
    {
        if (r.GenerationMemory is not { } m) return;
        s.AppendLine();
        s.AppendLine($"## Generation memory (greedy, KV cache, {m.NewTokens} tokens after {m.PromptTokens}, n_positions {m.NPositions})");
        s.AppendLine();
        s.AppendLine($"VmRSS every {m.SampleEvery} tokens (MiB): {string.Join(", ", m.Samples.Select(x => F(x.RssMib, 1)))}.");
        s.AppendLine();
        s.AppendLine("| RSS at start MiB | first sample MiB | last MiB | max MiB | slope MiB / 1000 tokens | tokens/s | live tensors before → after |");
        s.AppendLine("|---:|---:|---:|---:|---:|---:|---|");
        s.AppendLine($"| {F(m.RssStartMib, 1)} | {F(m.FirstMib, 1)} | {F(m.LastMib, 1)} | {F(m.MaxMib, 1)} | {F(m.SlopeMibPer1000Tokens, 3)} | " +
            $"{F(m.TokensPerSecond, 1)} | {m.LiveTensorsBefore} → {m.LiveTensorsAfter} |");
        if (m.Samples.All(x => x.NativeInUseMib is not null))
        {
            s.AppendLine();
            s.AppendLine($"What the resident memory holds, at the same samples (MiB): glibc heap in use {string.Join(", ", m.Samples.Select(x => F(x.NativeInUseMib, 1)))} " +
                $"(slope {F(m.NativeInUseSlopeMibPer1000Tokens, 3)} / 1000 tokens); free inside the heap {string.Join(", ", m.Samples.Select(x => F(x.NativeFreeMib, 1)))}; " +
                $".NET GC heap {string.Join(", ", m.Samples.Select(x => F(x.ManagedMib, 2)))} (slope {F(m.ManagedSlopeMibPer1000Tokens, 3)}).");
        }
        if (r.Peer?.Result?.GenerationMemory is { } p)
        {
            s.AppendLine();
            s.AppendLine($"PyTorch peer, same case: RSS first {F(p.FirstMib, 1)}, last {F(p.LastMib, 1)}, max {F(p.MaxMib, 1)} MiB, " +
                $"slope {F(p.SlopeMibPer1000Tokens, 3)} MiB / 1000 tokens, {F(p.TokensPerSecond, 1)} tokens/s.");
        }
    }

    static string F(double? value, int decimals) =>
        value is double v && double.IsFinite(v) ? v.ToString("F" + decimals, CultureInfo.InvariantCulture) : "n/a";
}

/// <summary>The peer's memory case (same fields as <see cref="GenerationMemoryMeasurement"/>, fewer of them).</summary>
public sealed record PeerGenerationMemory(
    string Name, int NewTokens, double FirstMib, double LastMib, double MaxMib, double SlopeMibPer1000Tokens,
    double TokensPerSecond, double? PeakRssMib);
