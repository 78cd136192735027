namespace Ptm.Benchmarks.Throughput;

/// <summary>Peak resident memory of the process that ran a case, from /proc/self/status.</summary>
/// <param name="PeakRssMib">VmHWM: the high-water mark of resident memory.</param>
/// <param name="RssBeforeMib">VmRSS just before the case started (runtime, libtorch and anything left over).</param>
/// <param name="Scope">"child-process" when the case had a process of its own, "in-process-cumulative" when the peak
/// also covers whatever ran earlier in the same process.</param>
public sealed record MemoryPeak(double PeakRssMib, double RssBeforeMib, string Scope);

/// <summary>One square matmul, timed over several repetitions.</summary>
public sealed record MatmulMeasurement(
    string Dtype, int Size, int Repetitions, double BestSeconds, double MedianSeconds,
    double BestGflops, double MedianGflops, bool MklCpuFix, MemoryPeak? Memory = null);

/// <summary>Training throughput: forward, backward, gradient clipping and an AdamW step per timed step.</summary>
public sealed record TrainingMeasurement(
    string Name, int NLayer, int NEmbd, int NHead, int VocabSize, int NPositions,
    int BatchSize, int BlockSize, int WarmupSteps, int TimedSteps,
    double[] StepSeconds, double MedianStepSeconds, double TokensPerSecond, double FinalLoss,
    long ParameterCount, long FlopsParameterCount, double FlopsPerToken, double AchievedGflops,
    bool MklCpuFix, MemoryPeak? Memory = null, double? Mfu = null, string Precision = "float32");

/// <summary>Greedy generation of <paramref name="Batch"/> sequences at once; the fastest of <paramref name="Repetitions"/> runs.</summary>
/// <param name="NewTokens">New tokens per sequence.</param>
/// <param name="TokensPerSecond">New tokens of all sequences over the whole call, first step included.</param>
/// <param name="DecodeTokensPerSecond">Tokens after the first step over the time after it.</param>
/// <param name="TimeToFirstTokenMs">From the call to the first step's ids: the prompts' forward pass plus one choice.</param>
public sealed record GenerationMeasurement(
    string Name, bool UseCache, int PromptTokens, int NewTokens, int NPositions, int Repetitions,
    double TotalSeconds, double TokensPerSecond, double DecodeTokensPerSecond, double TimeToFirstTokenMs,
    bool MklCpuFix, MemoryPeak? Memory = null, int Batch = 1);

/// <summary>What one case (possibly run in a child process) produced.</summary>
public sealed record CaseResult(
    string Case, bool MklCpuFix, int Threads, MemoryPeak Memory,
    IReadOnlyList<MatmulMeasurement> Matmul, IReadOnlyList<TrainingMeasurement> Training, IReadOnlyList<GenerationMeasurement> Generation,
    GenerationMemoryMeasurement? GenerationMemory = null, CaseContention? Contention = null)
{
    /// <summary>The case's DOTNET_GCgen0size (null: the runtime's default gen0 budget).</summary>
    public string? GcGen0Size { get; init; }

    /// <summary>Whether Ptm's fused GELU and attention kernels served the case (<see cref="Ptm.Kernels.FusedKernels"/>).</summary>
    public bool? FusedKernels { get; init; }

    /// <summary>What the case's process saw of the CPU (<see cref="Ptm.Kernels.CpuFeatures.Describe"/>), under its
    /// <see cref="CpuIsa"/> environment.</summary>
    public string? CpuFeatures { get; init; }
}

/// <summary>Training speed with the MKL CPU-vendor fix over speed without it, for the same case.</summary>
public sealed record MklFixComparison(string Case, double TokensPerSecondWithFix, double TokensPerSecondWithoutFix, double Speedup,
    double? MatmulFp32GflopsWithFix, double? MatmulFp32GflopsWithoutFix);

/// <summary>Where and how a run was measured.</summary>
/// <param name="CpuModel">/proc/cpuinfo's model name.</param>
/// <param name="CpuFeatures">What the first case's process saw of the CPU (<see cref="Ptm.Kernels.CpuFeatures.Describe"/>).</param>
/// <param name="CpuIsa">The <c>--cpu-isa</c> mode of the cases (null: in-process, this process's own).</param>
/// <param name="CpuIsaEnvironment">The variables that mode set in the cases' processes.</param>
/// <param name="CpuIsaNote">Cases the mode left out, and why (<see cref="Throughput.CpuIsaEnvironment.PlanFor"/>).</param>
public sealed record MachineInfo(
    string Date, string TimestampUtc, string? GitCommit, bool? GitDirty, string CpuModel, int LogicalCpus,
    int TorchThreads, bool MklCpuFixLoaded, string TorchSharpVersion, string DotnetVersion, string Os, bool? MallocTuned = null,
    string? GcGen0Size = null, bool? FusedKernels = null, string? CpuFeatures = null, string? CpuIsa = null, string? CpuIsaEnvironment = null,
    string? CpuIsaNote = null);

/// <summary>Everything one <c>throughput</c> run measured; serialised as the results JSON.</summary>
public sealed record ThroughputReport(
    MachineInfo Machine, bool Quick, string PeakMatmulForMfu, double PeakFp32Gflops,
    IReadOnlyList<MatmulMeasurement> Matmul, IReadOnlyList<TrainingMeasurement> Training,
    IReadOnlyList<GenerationMeasurement> Generation, MklFixComparison? MklFix,
    IReadOnlyDictionary<string, string> Formulas, PeerSection? Peer = null, GenerationMemoryMeasurement? GenerationMemory = null,
    TokenizerSection? Tokenizers = null, IReadOnlyList<CaseContention>? Contention = null, IReadOnlyList<PairedSet>? Paired = null);
