namespace Ptm.Data;

/// <summary>
/// Batches of BERT instances. Training rows are drawn uniformly at random, a pure function of (seed, step) like
/// <see cref="BatchSampler"/>, so a resumed run sees the same batches. With a <see cref="MlmMasker"/> the batcher
/// masks each row afresh (RoBERTa dynamic masking, a pure function of (seed, step, row)); without one it applies the
/// masks stored at preparation time.
/// </summary>
public sealed class BertBatcher
{
    readonly BertPretrainingDataset data;
    readonly IMlmMasker? dynamicMasker;
    readonly int padId;

    /// <summary>Rows per training batch (and the most rows per <see cref="Sequential"/> batch).</summary>
    public int BatchSize { get; }
    /// <summary>Run seed; with the step it fixes the rows and, under dynamic masking, their masks.</summary>
    public ulong Seed { get; }
    /// <summary>Tokens per row: the dataset's maximum sequence length; shorter instances are padded.</summary>
    public int SeqLen => data.MaxSeqLength;

    /// <summary>Batches from <paramref name="data"/>, which the caller keeps open and disposes. Give
    /// <paramref name="dynamicMasker"/> for data prepared with dynamic masking; leave it null to use the stored masks.</summary>
    /// <exception cref="InvalidInputException"><paramref name="batchSize"/> is not positive, the split is empty, or the data has no stored masks and no masker is given.</exception>
    public BertBatcher(BertPretrainingDataset data, int batchSize, ulong seed, IMlmMasker? dynamicMasker = null)
    {
        if (batchSize <= 0) throw new InvalidInputException($"batch size must be positive (got {batchSize})");
        if (data.Count == 0) throw new InvalidInputException($"{data.Path}: the {data.Split} split has no instances");
        if (dynamicMasker is null && !data.HasStaticMasks)
            throw new InvalidInputException($"{data.Path}: prepared for dynamic masking, so batches need a masker (give the vocabulary)");
        (this.data, this.dynamicMasker, BatchSize, Seed) = (data, dynamicMasker, batchSize, seed);
        padId = data.Manifest.Vocabulary.PadId;
    }

    /// <summary>The instances of the training batch at <paramref name="step"/>.</summary>
    public long[] InstanceIndices(long step)
    {
        var rng = SplitMix64.ForStep(Seed, step);
        var rows = new long[BatchSize];
        for (int b = 0; b < BatchSize; b++) rows[b] = (long)rng.NextBelow((ulong)data.Count);
        return rows;
    }

    /// <summary>The training batch at <paramref name="step"/>: the rows of <see cref="InstanceIndices"/>, masked and padded to <see cref="SeqLen"/>.</summary>
    public BertBatch GetBatch(long step) => Gather(InstanceIndices(step), step);

    /// <summary>Every instance once, in file order, for validation; the last batch may be smaller. Dynamic masks use step = batch number.</summary>
    public IEnumerable<BertBatch> Sequential(long? maxInstances = null)
    {
        long total = maxInstances is long cap ? Math.Min(cap, data.Count) : data.Count;
        long batchNumber = 0;
        for (long first = 0; first < total; first += BatchSize)
        {
            int rows = (int)Math.Min(BatchSize, total - first);
            var indices = new long[rows];
            for (int b = 0; b < rows; b++) indices[b] = first + b;
            yield return Gather(indices, batchNumber++);
        }
    }

    BertBatch Gather(long[] indices, long step)
    {
        int rows = indices.Length, len = SeqLen;
        var inputIds = new long[rows * len];
        var tokenTypes = new long[rows * len];
        var attention = new long[rows * len];
        var labels = new long[rows * len];
        var pairLabels = new long[rows];
        for (int b = 0; b < rows; b++)
        {
            BertInstance instance = data[indices[b]];
            MlmMask mask = instance.Mask;
            if (dynamicMasker is not null)
            {
                var rng = MlmMasker.DynamicRng(Seed, step, b);
                mask = dynamicMasker.Mask(instance.Tokens, ref rng);
            }
            Span<long> rowIds = inputIds.AsSpan(b * len, len), rowLabels = labels.AsSpan(b * len, len);
            MlmMasker.Apply(instance.Tokens, mask, rowIds, rowLabels);
            rowIds[instance.Length..].Fill(padId);
            rowLabels[instance.Length..].Fill(MlmMasker.IgnoreLabel);
            attention.AsSpan(b * len, instance.Length).Fill(1);
            for (int t = instance.SegmentBStart; t < instance.Length; t++) tokenTypes[b * len + t] = 1;
            pairLabels[b] = instance.PairLabel == BertInstance.NoPairLabel ? MlmMasker.IgnoreLabel : instance.PairLabel;
        }
        return new BertBatch(inputIds, tokenTypes, attention, labels, pairLabels, rows, len);
    }
}
