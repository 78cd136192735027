using System.Diagnostics;
using Ptm.Modeling;
using Ptm.Kernels;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Throughput;

/// <summary>A BERT pre-training throughput case: full sequences of <paramref name="SeqLen"/> tokens (no padding),
/// exactly <paramref name="MaxPredictions"/> masked positions per sequence and a sentence-pair label per sequence.</summary>
public sealed record BertTrainingCase(
    string Name, BertConfig Model, TrainingConfig Training, int SeqLen, int MaxPredictions, int WarmupSteps, int TimedSteps, long Seed = 1337);

/// <summary>Times BERT pre-training steps as <see cref="MaskedLmObjective"/> with one micro-batch runs them.</summary>
public static class BertThroughput
{
    public const string CaseName = "bert";

    /// <summary>The case for <c>configs/bert-kjv.json</c> (its batch, max_seq_length, max_predictions_per_seq, dropout).</summary>
    public static BertTrainingCase FromConfig(string configPath, bool quick)
    {
        var run = BertRunConfig.FromNode(RunConfigFile.ReadNode(configPath), configPath);
        return new BertTrainingCase(CaseName, run.Model, run.Training, run.Data.MaxSeqLength, run.Data.MaxPredictionsPerSeq,
            WarmupSteps: quick ? 1 : ThroughputPlan.ShortStepWarmup, TimedSteps: quick ? 2 : 8, Seed: run.Training.Seed);
    }

    public const string BaseCaseName = "bert-base";

    /// <summary>
    /// Case (c) of the performance issue: the BERT-base shape (BertConfig's defaults, Hugging Face's bert-base-uncased:
    /// 12 layers, hidden 768, 12 heads, intermediate 3072, vocab 30522, 512 positions, dropout 0.1) at sequence length
    /// 128 with batch 4 (512 tokens a step, as gpt2-small's 2 × 256) and BERT's 20 masked positions per 128-token
    /// sequence (max_predictions_per_seq in Google's run_pretraining.py for that length). The optimizer settings are
    /// <paramref name="configPath"/>'s.
    /// </summary>
    public static BertTrainingCase BaseFromConfig(string configPath, bool quick)
    {
        var run = BertRunConfig.FromNode(RunConfigFile.ReadNode(configPath), configPath);
        return new BertTrainingCase(BaseCaseName, new BertConfig(), run.Training with { BatchSize = quick ? 1 : 4 },
            SeqLen: 128, MaxPredictions: 20, WarmupSteps: 1, TimedSteps: quick ? 1 : 3, Seed: run.Training.Seed);
    }

    /// <summary>
    /// zero_grad; <see cref="BertForPreTraining.ForwardMasked"/> (MLM head at the masked positions only); summed MLM
    /// cross-entropy over the masked count plus summed NSP cross-entropy over the pair count; backward;
    /// clip_grad_norm_; AdamW step. Inputs are random and made before the clock starts.
    /// </summary>
    public static TrainingMeasurement Measure(BertTrainingCase c)
    {
        if (c.TimedSteps <= 0) throw new ArgumentException("at least one timed step is needed", nameof(c));
        if (c.MaxPredictions >= c.SeqLen) throw new ArgumentException("more predictions than positions", nameof(c));
        var t = c.Training;
        var m = c.Model;
        manual_seed(c.Seed);
        using var model = new BertForPreTraining(m);
        model.train();
        using var optimizer = OptimizerFactory.AdamW(model, t.LearningRate, t.WeightDecay, t.Beta1, t.Beta2);
        OptimizerFactory.SetLearningRate(optimizer, t.LearningRate);
        var parameters = model.parameters().ToList();
        using var generator = new TorchSharp.torch.Generator((ulong)c.Seed);
        long B = t.BatchSize, T = c.SeqLen, P = c.MaxPredictions;

        var timed = new List<double>(c.TimedSteps);
        double lastLoss = double.NaN;
        for (int step = 0; step < c.WarmupSteps + c.TimedSteps; step++)
        {
            using var scope = NewDisposeScope();
            var ids = randint(0, m.VocabSize, [B, T], dtype: ScalarType.Int64, generator: generator);
            var types = cat([zeros([B, T / 2], ScalarType.Int64), ones([B, T - T / 2], ScalarType.Int64)], 1);
            var mask = ones([B, T], ScalarType.Int64);
            // P distinct positions per row (never position 0, the [CLS] slot) get a random label; the rest -100.
            var positions = rand([B, T - 1], generator: generator).argsort(1)[.., ..(int)P] + 1;
            var labels = full([B, T], -100L, ScalarType.Int64).scatter_(1, positions, randint(0, m.VocabSize, [B, P], dtype: ScalarType.Int64, generator: generator));
            var pairLabels = randint(0, 2, [B], dtype: ScalarType.Int64, generator: generator);
            var inputs = new BertInputs(ids, types, mask);

            var clock = Stopwatch.StartNew();
            optimizer.zero_grad();
            long masked = labels.ne(-100).sum().item<long>();
            var (mlmLogits, chosen, pairLogits) = model.ForwardMasked(inputs, labels);
            var loss = nn.functional.cross_entropy(mlmLogits, chosen, ignore_index: -100, reduction: nn.Reduction.Sum) / Math.Max(1, masked)
                + nn.functional.cross_entropy(pairLogits, pairLabels, ignore_index: -100, reduction: nn.Reduction.Sum) / B;
            loss.backward();
            lastLoss = loss.item<float>();
            if (t.GradClip > 0) nn.utils.clip_grad_norm_(parameters, t.GradClip);
            optimizer.step();
            clock.Stop();
            if (step >= c.WarmupSteps) timed.Add(clock.Elapsed.TotalSeconds);
        }

        double tokensPerSecond = B * T * timed.Count / timed.Sum();
        long all = parameters.Sum(p => p.numel());
        long embeddings = model.named_parameters().Where(p => p.name.StartsWith("bert.embeddings.", StringComparison.Ordinal)
            && p.name.EndsWith("_embeddings.weight", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        double flopsPerToken = FlopsPerToken(m, all - embeddings, T, P);
        var sorted = timed.Order().ToArray();
        double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new TrainingMeasurement(
            c.Name, m.NumHiddenLayers, m.HiddenSize, m.NumAttentionHeads, m.VocabSize, m.MaxPositionEmbeddings,
            t.BatchSize, c.SeqLen, c.WarmupSteps, c.TimedSteps, [.. timed], median, tokensPerSecond, lastLoss,
            all, all - embeddings, flopsPerToken, flopsPerToken * tokensPerSecond / 1e9, TorchRuntime.MklCpuFixLoaded);
    }

    /// <summary>6·N (N = parameters outside the embedding tables) + 12·L·H·Q·T for attention (not causal: all T
    /// keys) + 6·E·V·P/T for the tied MLM decoder, which runs at P of the T positions.</summary>
    public static double FlopsPerToken(BertConfig m, long nonEmbeddingParameters, long seqLen, long predictions) =>
        6.0 * nonEmbeddingParameters + 12.0 * m.NumHiddenLayers * m.HiddenSize * seqLen
        + 6.0 * m.EmbeddingWidth * m.VocabSize * predictions / seqLen;
}
