using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.FineTuning;

/// <summary>
/// Fine-tuning as a <see cref="Trainer"/> objective, so checkpoints, resume, clipping, the schedule and
/// metrics.jsonl work as in pre-training. Each micro-batch's loss is divided by the step's micro-batch count (the
/// stream's batches are always full), so accumulation equals one larger batch.
/// </summary>
internal sealed class FineTuneObjective : IDataParallelObjective
{
    readonly FineTuneModel model;
    readonly TaskBatchStream stream;
    readonly EncodedTaskSet validation;
    readonly int batchSize;

    public FineTuneObjective(FineTuneModel model, EncodedTaskSet train, EncodedTaskSet validation, int batchSize, long seed)
    {
        this.model = model;
        this.validation = validation;
        this.batchSize = batchSize;
        stream = new TaskBatchStream(train, batchSize, seed, model.Encoder.PadId);
    }

    public nn.Module Model => model.Module;

    public StepOutcome ForwardBackward(long firstIndex, int count) => ForwardBackward(firstIndex, count, _ => { });

    public StepOutcome ForwardBackward(long firstIndex, int count, Action<long[]> sumCounts)
    {
        long[] batches = [count];
        sumCounts(batches); // micro-batches of the whole step, over every rank
        double steps = batches[0];
        double total = 0, task = 0, lm = 0;
        long tokens = 0;
        for (int i = 0; i < count; i++)
        {
            using var batch = stream.Batch(firstIndex + i);
            using var scope = NewDisposeScope();
            var (loss, taskLoss, lmLoss) = model.Loss(batch);
            (loss / steps).backward();
            total += loss.item<float>() / steps;
            task += taskLoss.item<float>() / steps;
            if (lmLoss is not null) lm += lmLoss.item<float>() / steps;
            tokens += batch.Tokens;
        }
        var metrics = new Dictionary<string, double> { ["task_loss"] = task };
        if (model.LmCoef > 0) metrics["lm_loss"] = lm;
        return new StepOutcome(total, tokens, metrics);
    }

    /// <summary>Task loss over the whole validation set ("loss"), plus accuracy (classes, choices), Pearson and
    /// Spearman (similarity), entity F1 and token accuracy (tagging) or exact match and F1 (span QA).</summary>
    public IReadOnlyDictionary<string, double> Evaluate(int maxBatches)
    {
        double lossSum = 0;
        int n = 0;
        var gold = new List<double>();
        var predicted = new List<double>();
        foreach (var (_, batch) in TaskBatchStream.Sequential(validation, batchSize, model.Encoder.PadId).Take(maxBatches))
        {
            using (batch)
            using (var scope = NewDisposeScope())
            {
                var (scores, _) = model.Forward(batch, false);
                lossSum += model.TaskLoss(scores, batch).item<float>() * batch.Size;
                n += (int)batch.Size;
                if (FineTuneTasks.IsTokenLevel(model.Task)) continue;   // scored below, per word or per answer
                if (model.Task == FineTuneTask.Similarity)
                {
                    gold.AddRange(batch.Scores.data<float>().ToArray().Select(v => (double)v));
                    predicted.AddRange(scores.to_type(ScalarType.Float32).data<float>().ToArray().Select(v => (double)v));
                }
                else
                {
                    gold.AddRange(batch.Labels.data<long>().ToArray().Select(v => (double)v));
                    predicted.AddRange(scores.argmax(-1).data<long>().ToArray().Select(v => (double)v));
                }
            }
        }
        var metrics = new Dictionary<string, double> { ["loss"] = lossSum / Math.Max(1, n) };
        if (model.Task == FineTuneTask.Tag)
        {
            var m = TokenTaskScores.Tagging(model, validation, batchSize);
            metrics["entity_f1"] = m.F1;
            metrics["token_accuracy"] = m.TokenAccuracy;
        }
        else if (model.Task == FineTuneTask.Span)
        {
            var m = TokenTaskScores.Spans(model, validation, batchSize);
            metrics["exact_match"] = m.ExactMatch;
            metrics["f1"] = m.F1;
        }
        else if (model.Task == FineTuneTask.Similarity)
        {
            var c = TaskMetrics.Correlation(gold, predicted);
            metrics["pearson"] = c.Pearson;
            metrics["spearman"] = c.Spearman;
        }
        else metrics["accuracy"] = gold.Zip(predicted).Count(p => p.First == p.Second) / (double)Math.Max(1, gold.Count);
        return metrics;
    }

    public void SaveModel(string directory) => model.Save(directory);
}
