using static TorchSharp.torch;

namespace Ptm.FineTuning;

/// <summary>
/// A padded batch: ids, segment ids and attention mask (B, K, T), the index of each sequence's last real token
/// (B, K), class labels (B, int64; -1 when unknown) and similarity targets (B, float32); for tagging the token
/// labels (B, T, -100 on padding) and for span QA the answer's start and end positions (B).
/// </summary>
public sealed record TaskBatch(Tensor InputIds, Tensor TokenTypeIds, Tensor AttentionMask, Tensor LastIndex, Tensor Labels, Tensor Scores, long Tokens)
    : IDisposable
{
    /// <summary>The number of examples, B.</summary>
    public long Size => InputIds.shape[0];
    /// <summary>Tagging: each token's label id (B, T), -100 on pieces after a word's first and on padding; else null.</summary>
    public Tensor? TokenLabels { get; init; }
    /// <summary>Span QA: the answer's first token in each window (B, int64), 0 when the window lacks the whole answer; else null.</summary>
    public Tensor? StartPositions { get; init; }
    /// <summary>Span QA: the answer's last token in each window (B, int64), 0 when the window lacks the whole answer; else null.</summary>
    public Tensor? EndPositions { get; init; }

    /// <summary>Pads <paramref name="examples"/> (all with the same number of sequences K) to the longest sequence T
    /// with <paramref name="padId"/>. The caller owns the batch and disposes it (or lets a dispose scope do it).</summary>
    public static TaskBatch From(IReadOnlyList<EncodedExample> examples, int padId)
    {
        int B = examples.Count, K = examples[0].Sequences.Length;
        int T = examples.Max(e => e.Sequences.Max(s => s.Length));
        var ids = new long[B * K * T];
        var types = new long[B * K * T];
        var mask = new long[B * K * T];
        var last = new long[B * K];
        long tokens = 0;
        Array.Fill(ids, padId);
        for (int b = 0; b < B; b++)
            for (int k = 0; k < K; k++)
            {
                var seq = examples[b].Sequences[k];
                int row = (b * K + k) * T;
                for (int t = 0; t < seq.Length; t++)
                {
                    ids[row + t] = seq[t];
                    types[row + t] = examples[b].TypeIds[k][t];
                    mask[row + t] = 1;
                }
                last[b * K + k] = seq.Length - 1;
                tokens += seq.Length;
            }
        Tensor? tokenLabels = null;
        if (examples[0].TokenLabels is not null)
        {
            var labels = new long[B * T];
            Array.Fill(labels, -100L);
            for (int b = 0; b < B; b++)
                for (int t = 0; t < examples[b].TokenLabels!.Length; t++) labels[b * T + t] = examples[b].TokenLabels![t];
            tokenLabels = tensor(labels, B, T);
        }
        bool spans = examples[0].Window is not null;
        return new TaskBatch(
            tensor(ids, B, K, T), tensor(types, B, K, T), tensor(mask, B, K, T), tensor(last, B, K),
            tensor(examples.Select(e => (long)e.Class).ToArray()), tensor(examples.Select(e => e.Score).ToArray()), tokens)
        {
            TokenLabels = tokenLabels,
            StartPositions = spans ? tensor(examples.Select(e => (long)e.Window!.Start).ToArray()) : null,
            EndPositions = spans ? tensor(examples.Select(e => (long)e.Window!.End).ToArray()) : null,
        };
    }

    /// <summary>Disposes every tensor of the batch.</summary>
    public void Dispose()
    {
        InputIds.Dispose(); TokenTypeIds.Dispose(); AttentionMask.Dispose(); LastIndex.Dispose(); Labels.Dispose(); Scores.Dispose();
        TokenLabels?.Dispose(); StartPositions?.Dispose(); EndPositions?.Dispose();
    }
}

/// <summary>A task file encoded for one model: the examples in file order (for span QA: every window of every
/// example) and how many examples had to be truncated.</summary>
public sealed record EncodedTaskSet(TaskData Data, IReadOnlyList<EncodedExample> Examples, int TruncatedCount)
{
    /// <summary>The number of encoded examples (span QA: windows).</summary>
    public int Count => Examples.Count;

    /// <summary>The warning printed whenever text did not fit (never silent, never dropped): what was cut, in the words
    /// that fit the task's truncation rule; null when nothing was.</summary>
    public string? TruncationWarning(FineTuneTask task, int maxLength) => TruncatedCount == 0 ? null : task switch
    {
        FineTuneTask.Tag => $"warning: {Data.Source}: {TruncatedCount} of {Data.Count} sentences did not fit in {maxLength} tokens; their last words were cut, are predicted as the default tag and still count in the metrics",
        FineTuneTask.Span => $"warning: {Data.Source}: {TruncatedCount} of {Data.Count} questions were longer than {maxLength / 2} tokens (half of the max length) and were cut to their first {maxLength / 2}; contexts are never cut (long ones are split into windows)",
        _ => $"warning: {Data.Source}: {TruncatedCount} of {Data.Count} examples were longer than {maxLength} tokens and were truncated (longest part first)",
    };
}

/// <summary>
/// The training stream: epoch e visits every example once in an order shuffled from (seed, e), and batch i holds
/// stream positions i·B .. i·B+B-1, so batches are a pure function of their index (exact resume) and always full.
/// </summary>
internal sealed class TaskBatchStream(EncodedTaskSet set, int batchSize, long seed, int padId)
{
    int cachedEpoch = -1;
    int[] order = [];

    public int BatchSize => batchSize;

    public TaskBatch Batch(long index)
    {
        var examples = new EncodedExample[batchSize];
        for (int j = 0; j < batchSize; j++)
        {
            long position = index * batchSize + j;
            int epoch = (int)(position / set.Count);
            examples[j] = set.Examples[Order(epoch)[position % set.Count]];
        }
        return TaskBatch.From(examples, padId);
    }

    int[] Order(int epoch)
    {
        if (epoch == cachedEpoch) return order;
        order = Enumerable.Range(0, set.Count).ToArray();
        var rng = Data.SplitMix64.ForStep((ulong)seed, epoch);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)rng.NextBelow((ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        cachedEpoch = epoch;
        return order;
    }

    /// <summary>The whole set in file order, in batches of at most <paramref name="size"/> (evaluation, prediction).</summary>
    public static IEnumerable<(int Start, TaskBatch Batch)> Sequential(EncodedTaskSet set, int size, int padId)
    {
        for (int start = 0; start < set.Count; start += size)
            yield return (start, TaskBatch.From(set.Examples.Skip(start).Take(size).ToList(), padId));
    }
}
