using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.Kernels;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Throughput;

/// <summary>
/// Runs a <see cref="ThroughputPlan"/> case by case and assembles the report. In child-process mode every case gets
/// a fresh process (this program with <c>throughput-case</c>), so each peak-memory figure is that case's alone and
/// the MKL fix can be switched off for the comparison; in-process mode runs everything here (tests, debugging).
/// </summary>
public static class ThroughputRunner
{
    public const string MatmulCase = "matmul";
    public const string GenerateCase = "generate";
    public const string TrainCasePrefix = "train:";
    public const string ResultMarker = "PTM-BENCH-RESULT ";
    public const string ChildScope = "child-process";
    public const string InProcessScope = "in-process-cumulative";

    /// <summary>Other processes' load, in CPUs, under which the machine counts as quiet.</summary>
    public const double QuietThreshold = 0.1;

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    static readonly JsonSerializerOptions CompactJson = new(Json) { WriteIndented = false };

    /// <summary>Case names in the order they run: matmul first (its peak feeds MFU), then training, then generation.</summary>
    public static IReadOnlyList<string> CaseNames(ThroughputPlan plan) =>
        [MatmulCase, .. plan.Training.Select(t => TrainCasePrefix + t.Name), .. plan.BertCases().Select(b => TrainCasePrefix + b.Name), GenerateCase,
         .. GenerationSuite.CaseNames(plan)];

    /// <summary>Runs one named case in this process.</summary>
    public static CaseResult RunCase(ThroughputPlan plan, string name, string memoryScope)
    {
        var load = CpuLoad.Start();
        double rssBefore = ProcessMemory.RssMib();
        var matmul = new List<MatmulMeasurement>();
        var training = new List<TrainingMeasurement>();
        var generation = new List<GenerationMeasurement>();
        GenerationMemoryMeasurement? generationMemory = null;
        if (name == MatmulCase)
        {
            var m = plan.Matmul;
            matmul.Add(ThroughputMeasurements.MeasureMatmul(m.Size, ScalarType.Float32, m.Warmup, m.Fp32Repetitions));
            matmul.Add(ThroughputMeasurements.MeasureMatmul(m.Size, ScalarType.BFloat16, m.Warmup, m.Bf16Repetitions));
        }
        else if (name == GenerateCase) generation.AddRange(ThroughputMeasurements.MeasureGeneration(plan.Generation));
        else if (GenerationSuite.TryRun(plan, name, generation, out generationMemory)) { }
        else if (name.StartsWith(TrainCasePrefix, StringComparison.Ordinal))
        {
            string caseName = name[TrainCasePrefix.Length..];
            if (plan.Training.FirstOrDefault(t => t.Name == caseName) is { } c) training.Add(ThroughputMeasurements.MeasureTraining(c));
            else if (plan.BertCases().FirstOrDefault(b => b.Name == caseName) is { } bert) training.Add(BertThroughput.Measure(bert));
            else throw new InvalidInputException($"no training case '{caseName}' (have: {string.Join(", ", CaseNames(plan))})");
        }
        else throw new InvalidInputException($"unknown case '{name}' (have: {string.Join(", ", CaseNames(plan))})");

        var memory = new MemoryPeak(ProcessMemory.PeakRssMib(), rssBefore, memoryScope);
        return new CaseResult(name, TorchRuntime.MklCpuFixLoaded, get_num_threads(), memory,
            matmul.Select(x => x with { Memory = memory }).ToList(),
            training.Select(x => x with { Memory = memory }).ToList(),
            generation.Select(x => x with { Memory = memory }).ToList(),
            generationMemory is null ? null : generationMemory with { Memory = memory },
            new CaseContention(name, TorchRuntime.MklCpuFixLoaded, load.Seconds, load.OtherCpus()))
        {
            GcGen0Size = Environment.GetEnvironmentVariable(Gen0SizeVariable) is { Length: > 0 } gen0 ? gen0 : null,
            FusedKernels = Ptm.Kernels.FusedKernels.Enabled,
            CpuFeatures = Ptm.Kernels.CpuFeatures.Describe(),
        };
    }

    /// <summary>Runs every case of <paramref name="plan"/> and builds the report.</summary>
    /// <param name="childArguments">Arguments that make this program rebuild the same plan in a child
    /// (e.g. <c>--config … --quick</c>); null runs everything in this process and skips the MKL comparison.</param>
    /// <param name="settleSeconds">Before the first case, wait up to this long for other processes to go quiet
    /// (the <c>dotnet run</c> host keeps a core busy for seconds after it starts us); 0 does not wait.</param>
    /// <param name="isa">The instruction sets the children may use (<see cref="CpuIsaEnvironment.Ptm"/>); in-process
    /// runs take this process's as it is.</param>
    public static ThroughputReport Run(ThroughputPlan plan, IReadOnlyList<string>? childArguments, Action<string> log, double settleSeconds = 0,
        CpuIsa isa = CpuIsa.Native)
    {
        if (settleSeconds > 0) CpuLoad.WaitForQuiet(QuietThreshold, settleSeconds, log);
        var results = new List<CaseResult>();
        foreach (string name in CaseNames(plan))
        {
            log($"running {name}{(childArguments is null ? "" : " (child process)")} ...");
            var result = childArguments is null ? RunCase(plan, name, InProcessScope) : RunChild(name, childArguments, mklFix: true, isa: isa);
            log($"  done: {Summary(result)}");
            results.Add(result);
        }

        var withoutFix = new List<CaseResult>();
        if (childArguments is not null && plan.MklComparisonCase is string compare)
        {
            foreach (string name in new[] { MatmulCase, TrainCasePrefix + compare })
            {
                log($"running {name} with PTM_MKL_CPU_FIX=0 (child process) ...");
                var result = RunChild(name, childArguments, mklFix: false, isa: isa);
                log($"  done: {Summary(result)}");
                withoutFix.Add(result);
            }
            // The peak matmul again with the fix, after the runs without it: one reading taken at one moment is at
            // the mercy of whatever else runs then; the MFU denominator is the best of both fix-on readings.
            log($"running {MatmulCase} again with the MKL fix (child process) ...");
            var again = RunChild(MatmulCase, childArguments, mklFix: true, isa: isa);
            log($"  done: {Summary(again)}");
            results.Add(again);
            return WithIsa(Assemble(plan, results, withoutFix, [.. results.SkipLast(1), .. withoutFix, again]), childArguments is null ? null : isa);
        }
        return WithIsa(Assemble(plan, results, withoutFix), childArguments is null ? null : isa);
    }

    /// <summary>The mode the children ran under; null (in-process) leaves this process's own, unnamed.</summary>
    static ThroughputReport WithIsa(ThroughputReport report, CpuIsa? isa) =>
        isa is CpuIsa mode
            ? report with { Machine = report.Machine with { CpuIsa = CpuIsaEnvironment.Name(mode), CpuIsaEnvironment = CpuIsaEnvironment.Describe(CpuIsaEnvironment.Ptm(mode)) } }
            : report;

    static string Summary(CaseResult r)
    {
        var parts = new List<string>();
        parts.AddRange(r.Matmul.Select(m => $"{m.Dtype} {m.BestGflops:F1} GFLOP/s"));
        parts.AddRange(r.Training.Select(t => $"{t.TokensPerSecond:F0} tok/s"));
        parts.AddRange(r.Generation.Select(g => $"{(g.Batch > 1 ? $"batch {g.Batch} " : "")}{(g.UseCache ? "cache" : "no cache")} {g.TokensPerSecond:F1} tok/s"));
        if (r.GenerationMemory is { } gm) parts.Add($"RSS {gm.FirstMib:F0} -> {gm.LastMib:F0} MiB over {gm.NewTokens} tokens ({gm.SlopeMibPer1000Tokens:F3} MiB / 1000)");
        parts.Add($"peak RSS {r.Memory.PeakRssMib:F0} MiB, MKL fix {(r.MklCpuFix ? "on" : "off")}");
        if (r.Contention is { OtherCpus: var other } && double.IsFinite(other)) parts.Add($"other processes {other:F2} CPUs");
        return string.Join(", ", parts);
    }

    /// <param name="chronological">Every case in the order it ran, for the machine-load table; null: the fix-on
    /// cases, then the fix-off ones.</param>
    internal static ThroughputReport Assemble(ThroughputPlan plan, List<CaseResult> results, List<CaseResult> withoutFix,
        IReadOnlyList<CaseResult>? chronological = null)
    {
        var matmul = results.SelectMany(r => r.Matmul).ToList();
        var fp32 = matmul.Where(m => m.Dtype == "fp32").MaxBy(m => m.BestGflops);
        double peak = fp32?.BestGflops ?? double.NaN;
        // bfloat16 cases are set against the bf16 product's peak, as their matrix products run in bf16.
        double peakBf16 = matmul.Where(m => m.Dtype == "bf16").MaxBy(m => m.BestGflops)?.BestGflops ?? double.NaN;
        double? Mfu(TrainingMeasurement t)
        {
            double p = t.Precision == "bfloat16" ? peakBf16 : peak;
            return double.IsFinite(p) && p > 0 ? t.AchievedGflops / p : null;
        }

        var training = results.SelectMany(r => r.Training).Concat(withoutFix.SelectMany(r => r.Training))
            .Select(t => t with { Mfu = Mfu(t) }).ToList();
        matmul.AddRange(withoutFix.SelectMany(r => r.Matmul));

        MklFixComparison? comparison = null;
        if (plan.MklComparisonCase is string name
            && training.FirstOrDefault(t => t.Name == name && t.MklCpuFix) is { } on
            && training.FirstOrDefault(t => t.Name == name && !t.MklCpuFix) is { } off)
        {
            double? fp32On = matmul.Where(m => m.Dtype == "fp32" && m.MklCpuFix).MaxBy(m => m.BestGflops)?.BestGflops;
            double? fp32Off = matmul.Where(m => m.Dtype == "fp32" && !m.MklCpuFix).MaxBy(m => m.BestGflops)?.BestGflops;
            comparison = new MklFixComparison(name, on.TokensPerSecond, off.TokensPerSecond, on.TokensPerSecond / off.TokensPerSecond, fp32On, fp32Off);
        }

        var first = results.FirstOrDefault();
        return new ThroughputReport(
            DescribeMachine(first?.Threads ?? get_num_threads(), first?.MklCpuFix ?? TorchRuntime.MklCpuFixLoaded) with
            {
                GcGen0Size = first?.GcGen0Size, FusedKernels = first?.FusedKernels, CpuFeatures = first?.CpuFeatures ?? CpuFeatures.Describe(),
            },
            plan.Quick, $"best fp32 {plan.Matmul.Size}x{plan.Matmul.Size} torch.mm with the MKL fix as loaded by default (best of the fix-on matmul runs)", peak,
            matmul, training, results.SelectMany(r => r.Generation).ToList(), comparison, Formulas,
            GenerationMemory: results.Select(r => r.GenerationMemory).FirstOrDefault(m => m is not null),
            Contention: (chronological ?? [.. results, .. withoutFix]).Select(r => r.Contention).OfType<CaseContention>().ToList());
    }

    public static readonly IReadOnlyDictionary<string, string> Formulas = new Dictionary<string, string>
    {
        ["training_tokens_per_second"] = "batch_size * block_size * timed_steps / sum(timed step seconds); a step is zero_grad, forward, Gpt.Loss, backward, clip_grad_norm_, AdamW step",
        ["precision"] = "float32, or bfloat16: Ptm multiplies in bf16 with float32 master weights (training.precision, MixedPrecision); the peer runs forward under torch.autocast(\"cpu\", bfloat16) and the loss on float32 logits",
        ["flops_parameter_count"] = "N = all parameters except transformer.wpe (the tied wte/LM head counted once)",
        ["flops_per_token"] = "6*N + 12*n_layer*n_head*head_size*block_size (nanoGPT estimate_mfu / PaLM appendix B; attention not halved for causality)",
        ["bert_flops_per_token"] = "6*N + 12*layers*hidden*seq_len + 6*embedding_width*vocab*predictions/seq_len, N = parameters outside the embedding tables (the tied MLM decoder runs at the masked positions only)",
        ["achieved_gflops"] = "flops_per_token * training_tokens_per_second / 1e9",
        ["mfu"] = "achieved_gflops / peak_fp32_gflops, peak = best fp32 2048x2048 torch.mm in this run (MKL fix on; best of the fix-on matmul runs); for precision bfloat16 the best bf16 torch.mm instead",
        ["other_cpus"] = "(busy ticks of all CPUs in /proc/stat - this process's utime + stime) / 100 / wall seconds of the case: CPUs other processes (or the hypervisor, as steal) took while it ran",
        ["matmul_gflops"] = "2*n^3 / seconds / 1e9 per torch.mm of two n x n matrices; best and median over the repetitions",
        ["generation_tokens_per_second"] = "batch * new_tokens / seconds of the whole GenerateIds enumeration (greedy), time to first token included; fastest of the repetitions (cache and no-cache alternate)",
        ["decode_tokens_per_second"] = "batch * (new_tokens - 1) / (seconds - time_to_first_token)",
        ["generation_memory_slope"] = "least-squares slope of VmRSS (MiB) against tokens generated, through the samples taken every sample_every tokens, times 1000",
        ["peak_rss_mib"] = "VmHWM from /proc/self/status at the end of the case; child-process = the case's own process",
    };

    /// <param name="fusedKernels">false starts the child with Ptm's kernels off (libtorch's operators instead of
    /// Ptm's GELU and attention kernels).</param>
    /// <param name="isa">The instruction sets the child may use.</param>
    internal static CaseResult RunChild(string name, IReadOnlyList<string> childArguments, bool mklFix, bool fusedKernels = true, CpuIsa isa = CpuIsa.Native)
    {
        var start = ChildStartInfo(name, childArguments, mklFix, fusedKernels, isa);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        CaseResult? result = null;
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null)
        {
            if (line.StartsWith(ResultMarker, StringComparison.Ordinal))
                result = JsonSerializer.Deserialize<CaseResult>(line[ResultMarker.Length..], Json);
            else Console.WriteLine("    " + line);
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || result is null)
            throw new InvalidOperationException($"case '{name}' failed in its child process (exit code {process.ExitCode})");
        return result;
    }

    /// <summary>How a case's child process is started: this program's <c>throughput-case</c> mode and its environment.</summary>
    internal static ProcessStartInfo ChildStartInfo(string name, IReadOnlyList<string> childArguments, bool mklFix, bool fusedKernels, CpuIsa isa)
    {
        var start = SelfStartInfo();
        start.ArgumentList.Add("throughput-case");
        start.ArgumentList.Add(name);
        foreach (string a in childArguments) start.ArgumentList.Add(a);
        start.RedirectStandardOutput = true;
        start.UseShellExecute = false;
        if (mklFix) start.Environment.Remove("PTM_MKL_CPU_FIX");
        else start.Environment["PTM_MKL_CPU_FIX"] = "0";
        CpuIsaEnvironment.Apply(start.Environment, CpuIsaEnvironment.Ptm(isa, fusedKernels));
        // The GC setting the ./ptm wrapper starts the command line with, so the children measure what users run.
        start.Environment[Gen0SizeVariable] = ChildGen0Size;
        return start;
    }

    /// <summary>The .NET GC's smallest gen0 budget, as the <c>ptm</c> wrapper sets it (docs/performance.md, "Memory over
    /// long generations"): an environment variable only, read when the runtime starts, so it reaches the cases through their
    /// child processes. A value already in the environment is passed on unchanged.</summary>
    public const string Gen0SizeVariable = "DOTNET_GCgen0size";

    /// <summary>4 MiB, in the hexadecimal the runtime reads.</summary>
    public const string WrapperGen0Size = "0x400000";

    public static string ChildGen0Size => Environment.GetEnvironmentVariable(Gen0SizeVariable) is { Length: > 0 } v ? v : WrapperGen0Size;

    /// <summary>How to start this program again: its apphost, or the dotnet host with our dll.</summary>
    static ProcessStartInfo SelfStartInfo()
    {
        string host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(host);
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            start.ArgumentList.Add(typeof(ThroughputRunner).Assembly.Location);
        return start;
    }

    /// <summary>Prints one case's result for the parent process to read.</summary>
    public static void WriteChildResult(CaseResult result) =>
        Console.WriteLine(ResultMarker + JsonSerializer.Serialize(result, CompactJson));

    public static MachineInfo DescribeMachine(int threads, bool mklFix)
    {
        var now = DateTimeOffset.Now;
        var (commit, dirty) = GitState();
        return new MachineInfo(
            now.ToString("yyyy-MM-dd"), now.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ"), commit, dirty, CpuModel(),
            Environment.ProcessorCount, threads, mklFix,
            typeof(TorchSharp.torch).Assembly.GetName().Version?.ToString() ?? "?", Environment.Version.ToString(),
            RuntimeInformation.OSDescription, TorchRuntime.MallocTuned);
    }

    /// <summary>The first "model name" of /proc/cpuinfo (the architecture elsewhere).</summary>
    public static string CpuModel()
    {
        const string path = "/proc/cpuinfo";
        if (!File.Exists(path)) return RuntimeInformation.ProcessArchitecture.ToString();
        foreach (string line in File.ReadLines(path))
            if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is int colon and > 0)
                return line[(colon + 1)..].Trim();
        return "unknown";
    }

    static (string? Commit, bool? Dirty) GitState()
    {
        string? root = RepoPaths.FindRoot();
        if (root is null) return (null, null);
        string? commit = Git(root, "rev-parse", "HEAD")?.Trim();
        if (string.IsNullOrEmpty(commit)) return (null, null);
        string? status = Git(root, "status", "--porcelain", "--untracked-files=no");
        return (commit, status is null ? null : status.Trim().Length > 0);
    }

    static string? Git(string root, params string[] args)
    {
        try
        {
            var start = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("-C");
            start.ArgumentList.Add(root);
            foreach (string a in args) start.ArgumentList.Add(a);
            using var process = Process.Start(start);
            if (process is null) return null;
            string output = process.StandardOutput.ReadToEnd();
            process.StandardError.ReadToEnd();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // git not installed
        }
    }
}
