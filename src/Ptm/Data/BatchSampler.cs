namespace Ptm.Data;

/// <summary>
/// A batch of next-token examples, row-major: row b's inputs are <c>Inputs[b*BlockSize .. (b+1)*BlockSize)</c> and its
/// targets are the same tokens shifted one ahead.
/// </summary>
public sealed record TokenBatch(long[] Inputs, long[] Targets, int BatchSize, int BlockSize);

/// <summary>
/// Random training windows of BlockSize + 1 tokens. The batch for a step is a pure function of (seed, step), so a
/// run resumed from a checkpoint at step k continues with exactly the batches it would have seen, with no generator
/// state to save.
/// </summary>
public sealed class BatchSampler
{
    readonly TokenDataset data;

    /// <summary>Rows (windows) per batch.</summary>
    public int BatchSize { get; }
    /// <summary>Input tokens per row; each window reads BlockSize + 1 tokens.</summary>
    public int BlockSize { get; }
    /// <summary>Run seed; with the step it fixes every window start.</summary>
    public ulong Seed { get; }

    /// <summary>Samples windows of <paramref name="blockSize"/> + 1 tokens from <paramref name="data"/>, which the caller keeps open and disposes.</summary>
    /// <exception cref="InvalidInputException">A size is not positive, or the split is shorter than blockSize + 1 tokens.</exception>
    public BatchSampler(TokenDataset data, int batchSize, int blockSize, ulong seed)
    {
        SequentialWindows.Check(data, batchSize, blockSize);
        this.data = data;
        BatchSize = batchSize;
        BlockSize = blockSize;
        Seed = seed;
    }

    /// <summary>Where each row's window starts at <paramref name="step"/>: uniform over every full window.</summary>
    public long[] WindowStarts(long step)
    {
        var rng = SplitMix64.ForStep(Seed, step);
        ulong positions = (ulong)(data.Length - BlockSize); // starts 0 .. Length - (BlockSize + 1)
        var starts = new long[BatchSize];
        for (int b = 0; b < BatchSize; b++) starts[b] = (long)rng.NextBelow(positions);
        return starts;
    }

    /// <summary>The training batch for <paramref name="step"/>: the windows of <see cref="WindowStarts"/>, inputs and one-ahead targets.</summary>
    public TokenBatch GetBatch(long step) => SequentialWindows.Gather(data, WindowStarts(step), BlockSize);
}

/// <summary>
/// Non-overlapping windows that walk a split from its start, for validation loss and scoring: window i predicts
/// tokens [i*BlockSize + 1, (i+1)*BlockSize + 1), so every token after the first is a target at most once. The last
/// (Length - 1) mod BlockSize tokens do not fill a window and are not scored.
/// </summary>
public static class SequentialWindows
{
    /// <summary>Number of full windows in the split, at most <paramref name="maxWindows"/> when given.</summary>
    public static long Count(TokenDataset data, int blockSize, long? maxWindows = null)
    {
        long full = Math.Max(0, (data.Length - 1) / blockSize);
        return maxWindows is long cap ? Math.Min(full, Math.Max(0, cap)) : full;
    }

    /// <summary>Batches of up to <paramref name="batchSize"/> consecutive windows; the last batch may be smaller.</summary>
    public static IEnumerable<TokenBatch> Batches(TokenDataset data, int batchSize, int blockSize, long? maxWindows = null)
    {
        Check(data, batchSize, blockSize);
        return Iterate(data, batchSize, blockSize, Count(data, blockSize, maxWindows));
    }

    static IEnumerable<TokenBatch> Iterate(TokenDataset data, int batchSize, int blockSize, long windows)
    {
        for (long first = 0; first < windows; first += batchSize)
        {
            int rows = (int)Math.Min(batchSize, windows - first);
            var starts = new long[rows];
            for (int b = 0; b < rows; b++) starts[b] = (first + b) * blockSize;
            yield return Gather(data, starts, blockSize);
        }
    }

    internal static void Check(TokenDataset data, int batchSize, int blockSize)
    {
        if (batchSize <= 0) throw new InvalidInputException($"batch size must be positive (got {batchSize})");
        if (blockSize <= 0) throw new InvalidInputException($"block size must be positive (got {blockSize})");
        if (data.Length < (long)blockSize + 1)
            throw new InvalidInputException(
                $"{data.Path}: the {data.Split} split has {data.Length} tokens, fewer than block size + 1 = {(long)blockSize + 1}");
    }

    internal static TokenBatch Gather(TokenDataset data, long[] starts, int blockSize)
    {
        int rows = starts.Length;
        var inputs = new long[checked(rows * blockSize)];
        var targets = new long[checked(rows * blockSize)];
        var window = new long[blockSize + 1];
        for (int b = 0; b < rows; b++)
        {
            data.Read(starts[b], window);
            window.AsSpan(0, blockSize).CopyTo(inputs.AsSpan(b * blockSize));
            window.AsSpan(1, blockSize).CopyTo(targets.AsSpan(b * blockSize));
        }
        return new TokenBatch(inputs, targets, rows, blockSize);
    }
}
