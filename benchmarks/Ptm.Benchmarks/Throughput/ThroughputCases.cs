using Ptm.Modeling;
using Ptm.Training;

namespace Ptm.Benchmarks.Throughput;

/// <summary>A training-throughput case: a model shape, a batch shape and how many steps to time.</summary>
public sealed record TrainingCase(string Name, GptConfig Model, TrainingConfig Training, int WarmupSteps, int TimedSteps, long Seed = 1337);

/// <summary>Greedy generation with and without the KV cache, for <paramref name="Batch"/> prompts of the same length at once.</summary>
public sealed record GenerationCase(string Name, GptConfig Model, int PromptTokens, int NewTokens, int WarmupTokens = 8, int Repetitions = 3, long Seed = 1337, int Batch = 1);

/// <summary>Square matmuls for the machine's peak.</summary>
public sealed record MatmulCase(int Size, int Fp32Repetitions, int Bf16Repetitions, int Warmup = 1);

/// <summary>The cases one <c>throughput</c> run measures.</summary>
/// <param name="MklComparisonCase">Name of the training case to repeat with PTM_MKL_CPU_FIX=0 (this needs child
/// processes, as the fix is loaded at process start); null skips the comparison.</param>
/// <param name="Bert">BERT pre-training case (run as <c>train:bert</c>); null skips it.</param>
/// <param name="BertBase">The BERT-base shape (run as <c>train:bert-base</c>); null skips it.</param>
public sealed record ThroughputPlan(
    MatmulCase Matmul, IReadOnlyList<TrainingCase> Training, GenerationCase Generation, bool Quick, string? MklComparisonCase,
    BertTrainingCase? Bert = null, BertTrainingCase? BertBase = null)
{
    public const string DefaultCaseName = "default";

    /// <summary>Batched greedy generation (run as <c>generate:&lt;name&gt;</c>); null skips it.</summary>
    public GenerationCase? BatchedGeneration { get; init; }

    /// <summary>Long cached generation with resident memory sampled along the way (run as <c>generate:memory</c>); null skips it.</summary>
    public GenerationMemoryCase? GenerationMemory { get; init; }

    /// <summary>The BERT training cases in the order they run: the configured BERT, then the BERT-base shape.</summary>
    public IEnumerable<BertTrainingCase> BertCases() => new[] { Bert, BertBase }.OfType<BertTrainingCase>();
    public const string Gpt2SmallCaseName = "gpt2-small";

    /// <summary>
    /// Untimed steps before cases whose step takes a fraction of a second (the default GPT and BERT). .NET's tiered
    /// JIT recompiles hot managed methods on a background thread, on one of the two cores the step's threads need:
    /// Ptm's steps 2–10 ran 5–20% slower than its steady state, and steps 16, 31 and 61 took 80–140 ms more (methods
    /// reaching their call counts), none after that in 160 steps; with DOTNET_TieredCompilation=0 as the control,
    /// every step from the third on ran at the steady rate (benchmarks/results/2026-11-27-performance-notes.md, "Warm-up and
    /// .NET's tiered JIT").
    /// 65 steps (about 20 s) pass all of it; both sides get the same plan. Second-long steps keep their two.
    /// </summary>
    public const int ShortStepWarmup = 65;
    public const string Bf16Suffix = "-bf16";

    /// <summary>The standard plan: the default run config (<c>configs/gpt-kjv.json</c>), a GPT-2 small shape and,
    /// when <paramref name="bertConfigPath"/> is given, BERT pre-training in that config (<c>configs/bert-kjv.json</c>).</summary>
    public static ThroughputPlan Standard(string configPath, bool quick, string? bertConfigPath = null)
    {
        var run = GptRunConfig.FromNode(RunConfigFile.ReadNode(configPath), configPath);
        var defaultCase = new TrainingCase(DefaultCaseName, run.Model, run.Training,
            WarmupSteps: quick ? 1 : ShortStepWarmup, TimedSteps: quick ? 2 : 8, Seed: run.Training.Seed);

        // GPT-2 small (124M): GptConfig's defaults are its Hugging Face config; dropout off, as in the default config.
        var gpt2 = new GptConfig { ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 };
        var gpt2Training = run.Training with { BatchSize = quick ? 1 : 2, BlockSize = quick ? 128 : 256 };
        var gpt2Case = new TrainingCase(Gpt2SmallCaseName, gpt2, gpt2Training,
            WarmupSteps: quick ? 1 : 2, TimedSteps: quick ? 1 : 3, Seed: run.Training.Seed);

        var generation = new GenerationCase(DefaultCaseName, run.Model with { }, PromptTokens: 16, NewTokens: quick ? 64 : 256, Repetitions: quick ? 1 : 3);
        var matmul = new MatmulCase(2048, Fp32Repetitions: quick ? 3 : 8, Bf16Repetitions: quick ? 2 : 5);
        var bert = bertConfigPath is null ? null : BertThroughput.FromConfig(bertConfigPath, quick);
        var bertBase = bertConfigPath is null ? null : BertThroughput.BaseFromConfig(bertConfigPath, quick);
        // The same two shapes in bfloat16 mixed precision (training.precision), against the peer under torch.autocast:
        // the bf16 lever, compared at the same dtype on both sides.
        var defaultBf16 = defaultCase with { Name = DefaultCaseName + Bf16Suffix, Training = defaultCase.Training with { Precision = "bfloat16" } };
        var gpt2Bf16 = gpt2Case with { Name = Gpt2SmallCaseName + Bf16Suffix, Training = gpt2Case.Training with { Precision = "bfloat16" } };
        return new ThroughputPlan(matmul, [defaultCase, gpt2Case, defaultBf16, gpt2Bf16], generation, quick, DefaultCaseName, bert, bertBase)
        {
            BatchedGeneration = generation with { Name = "batch8", Batch = 8, Repetitions = 2 },
            GenerationMemory = new GenerationMemoryCase("memory", run.Model with { }, PromptTokens: 16,
                NewTokens: quick ? 2_000 : 10_000, SampleEvery: quick ? 200 : 1_000, Seed: run.Training.Seed),
        };
    }
}
