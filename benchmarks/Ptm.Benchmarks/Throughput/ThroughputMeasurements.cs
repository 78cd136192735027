using System.Diagnostics;
using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Kernels;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Throughput;

/// <summary>
/// The timed measurements themselves, each self-contained so it can run in its own process. Torch on the CPU is
/// synchronous, so a stopwatch around the calls times the work.
/// </summary>
public static class ThroughputMeasurements
{
    /// <summary>
    /// Times training steps exactly as <see cref="Trainer"/> with <see cref="CausalLmObjective"/> runs them (one micro-batch per step): AdamW from
    /// <see cref="OptimizerFactory.AdamW"/>, <see cref="Gpt.Loss"/> normalised by the step's target count,
    /// backward, clip_grad_norm_ and the optimizer step. Batches are random token ids made before the clock starts.
    /// </summary>
    public static TrainingMeasurement MeasureTraining(TrainingCase c)
    {
        if (c.TimedSteps <= 0) throw new ArgumentException("at least one timed step is needed", nameof(c));
        var t = c.Training;
        if (t.BlockSize > c.Model.NPositions)
            throw new ArgumentException($"block size {t.BlockSize} exceeds n_positions {c.Model.NPositions}", nameof(c));
        manual_seed(c.Seed);
        using var model = new Gpt(c.Model);
        model.train();
        using var optimizer = OptimizerFactory.AdamW(model, t.LearningRate, t.WeightDecay, t.Beta1, t.Beta2);
        OptimizerFactory.SetLearningRate(optimizer, t.LearningRate);
        var parameters = model.parameters().ToList();
        using var generator = new torch.Generator((ulong)c.Seed);

        var timed = new List<double>(c.TimedSteps);
        double lastLoss = double.NaN;
        for (int step = 0; step < c.WarmupSteps + c.TimedSteps; step++)
        {
            using var scope = NewDisposeScope();
            var window = randint(0, c.Model.VocabSize, [t.BatchSize, t.BlockSize + 1], dtype: ScalarType.Int64, generator: generator);
            var x = window[.., ..t.BlockSize].contiguous();
            var y = window[.., 1..].contiguous();

            var clock = Stopwatch.StartNew();
            optimizer.zero_grad();
            long stepTokens = y.ne(-100).sum().item<long>();
            Tensor loss;
            using (MixedPrecision.Use(t.ComputeType))
                loss = Gpt.Loss(model.forward(x), y, normalizer: stepTokens);
            loss.backward();
            lastLoss = loss.item<float>();
            if (t.GradClip > 0) nn.utils.clip_grad_norm_(parameters, t.GradClip);
            optimizer.step();
            clock.Stop();
            if (step >= c.WarmupSteps) timed.Add(clock.Elapsed.TotalSeconds);
        }

        long tokensPerStep = (long)t.BatchSize * t.BlockSize;
        double tokensPerSecond = tokensPerStep * timed.Count / timed.Sum();
        long flopsParams = FlopsParameterCount(model);
        double flopsPerToken = FlopsPerToken(c.Model, flopsParams, t.BlockSize);
        return new TrainingMeasurement(
            c.Name, c.Model.NLayer, c.Model.NEmbd, c.Model.NHead, c.Model.VocabSize, c.Model.NPositions,
            t.BatchSize, t.BlockSize, c.WarmupSteps, c.TimedSteps,
            [.. timed], Median(timed), tokensPerSecond, lastLoss,
            model.ParameterCount(), flopsParams, flopsPerToken, flopsPerToken * tokensPerSecond / 1e9,
            TorchRuntime.MklCpuFixLoaded, Precision: t.Precision);
    }

    /// <summary>
    /// N in the FLOP estimate: every parameter except the position embeddings. The token embedding stays in, once:
    /// it is the tied LM head's weight, a real (C × V) matmul per token, while its lookup costs nothing.
    /// </summary>
    public static long FlopsParameterCount(Gpt model) => model.ParameterCount(includePositionEmbeddings: false);

    /// <summary>
    /// Training FLOPs per token, as nanoGPT's estimate_mfu (after PaLM, Chowdhery et al. 2022, appendix B):
    /// 6·N for the matmuls with weights (2 forward + 4 backward per parameter) plus 12·L·H·Q·T for attention's
    /// QKᵀ and AV products, with L layers, H heads of size Q and sequence length T (no causal halving).
    /// </summary>
    public static double FlopsPerToken(GptConfig model, long flopsParameterCount, int sequenceLength) =>
        6.0 * flopsParameterCount + 12.0 * model.NLayer * model.NHead * model.HeadSize * sequenceLength;

    /// <summary>
    /// Greedy generation of <see cref="GenerationCase.NewTokens"/> tokens after <see cref="GenerationCase.Batch"/> random
    /// prompts, through <see cref="TextGenerator.GenerateIds(IReadOnlyList{int[]}, GenerationOptions, CancellationToken)"/>
    /// with the KV cache on and off (same model, same prompts).
    /// </summary>
    public static IReadOnlyList<GenerationMeasurement> MeasureGeneration(GenerationCase c)
    {
        if (c.PromptTokens <= 0 || c.PromptTokens >= c.Model.NPositions)
            throw new ArgumentException($"prompt of {c.PromptTokens} tokens does not fit n_positions {c.Model.NPositions}", nameof(c));
        manual_seed(c.Seed);
        using var model = new Gpt(c.Model);
        model.eval();
        // GenerateIds never tokenizes; the generator only needs some tokenizer to be constructed.
        var generator = new TextGenerator(model, new CharTokenizer(["a"]));
        var rng = new Random((int)c.Seed);
        int[][] prompts = Enumerable.Range(0, c.Batch)
            .Select(_ => Enumerable.Range(0, c.PromptTokens).Select(_ => rng.Next(c.Model.VocabSize)).ToArray()).ToArray();

        // Batch-1 decoding is many tiny ops, which suffer most when other work shares the cores; the modes alternate
        // and each keeps its fastest repetition.
        var best = new Dictionary<bool, GenerationMeasurement>();
        for (int rep = 0; rep < c.Repetitions; rep++)
        {
            foreach (bool useCache in new[] { true, false })
            {
                var options = new GenerationOptions { Temperature = 0, UseCache = useCache, Seed = c.Seed };
                if (rep == 0 && c.WarmupTokens > 0) Drain(generator.GenerateIds(prompts, options with { MaxNewTokens = c.WarmupTokens }));

                var clock = Stopwatch.StartNew();
                double firstTokenSeconds = 0;
                int produced = 0;
                foreach (int[] _ in generator.GenerateIds(prompts, options with { MaxNewTokens = c.NewTokens }))
                {
                    if (produced++ == 0) firstTokenSeconds = clock.Elapsed.TotalSeconds;
                }
                double total = clock.Elapsed.TotalSeconds;
                double decode = produced > 1 ? c.Batch * (produced - 1) / Math.Max(1e-12, total - firstTokenSeconds) : 0;
                var m = new GenerationMeasurement(
                    c.Name, useCache, c.PromptTokens, produced, c.Model.NPositions, c.Repetitions,
                    total, c.Batch * produced / total, decode, firstTokenSeconds * 1000, TorchRuntime.MklCpuFixLoaded, Batch: c.Batch);
                if (!best.TryGetValue(useCache, out var kept) || m.TotalSeconds < kept.TotalSeconds) best[useCache] = m;
            }
        }
        var results = new List<GenerationMeasurement> { best[true], best[false] };
        return results;
    }

    static void Drain(IEnumerable<int[]> steps)
    {
        foreach (int[] _ in steps) { }
    }

    /// <summary>Times torch.mm of two random (n × n) matrices: 2·n³ FLOPs per product.</summary>
    public static MatmulMeasurement MeasureMatmul(int size, ScalarType dtype, int warmup, int repetitions)
    {
        if (repetitions <= 0) throw new ArgumentException("at least one repetition is needed", nameof(repetitions));
        using var scope = NewDisposeScope();
        manual_seed(0);
        var a = randn(size, size).to(dtype);
        var b = randn(size, size).to(dtype);
        for (int i = 0; i < warmup; i++) mm(a, b).Dispose();
        var times = new List<double>(repetitions);
        for (int i = 0; i < repetitions; i++)
        {
            var clock = Stopwatch.StartNew();
            using var product = mm(a, b);
            times.Add(clock.Elapsed.TotalSeconds);
        }
        double flops = 2.0 * size * size * (double)size;
        double best = times.Min(), median = Median(times);
        return new MatmulMeasurement(DtypeName(dtype), size, repetitions, best, median, flops / best / 1e9, flops / median / 1e9,
            TorchRuntime.MklCpuFixLoaded);
    }

    public static string DtypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => "fp32",
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float16 => "fp16",
        ScalarType.Float64 => "fp64",
        _ => dtype.ToString(),
    };

    static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
