using Ptm.Data;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>Training data read from a folder written by <see cref="Preparer"/> (memory-mapped token shards).</summary>
internal sealed class PreparedTrainingData : ITrainingData, IDisposable
{
    readonly TokenDataset train;
    readonly TokenDataset validation;
    readonly BatchSampler sampler;
    readonly int batchSize;
    readonly int blockSize;

    /// <summary>Opens both splits; every token id must be below <paramref name="vocabSize"/> (the model's embedding
    /// rows), which is checked here, once, rather than met as a native index error in the middle of training.</summary>
    public PreparedTrainingData(string directory, int batchSize, int blockSize, long seed, int vocabSize)
    {
        this.batchSize = batchSize;
        this.blockSize = blockSize;
        train = TokenDataset.Open(directory, Preparer.TrainSplit);
        try
        {
            validation = TokenDataset.Open(directory, Preparer.ValidationSplit);
        }
        catch
        {
            train.Dispose();
            throw;
        }
        try
        {
            CheckIds(train, vocabSize);
            CheckIds(validation, vocabSize);
        }
        catch
        {
            Dispose();
            throw;
        }
        sampler = new BatchSampler(train, batchSize, blockSize, (ulong)seed);
        var split = validation.Manifest.Splits[Preparer.ValidationSplit];
        ValidationTokensPerByte = split.SourceBytes > 0 ? (double)split.Tokens / split.SourceBytes : double.NaN;
        // Fail now, not at the first evaluation, if the held-out text is too short for one window.
        SequentialWindows.Batches(validation, batchSize, blockSize, 1).First();
    }

    static void CheckIds(TokenDataset split, int vocabSize)
    {
        if (split.Manifest.TokenSize == 2 && vocabSize >= 1 << 16) return; // every uint16 fits
        var chunk = new long[1 << 16];
        for (long start = 0; start < split.Length; start += chunk.Length)
        {
            var span = chunk.AsSpan(0, (int)Math.Min(chunk.Length, split.Length - start));
            split.Read(start, span);
            for (int i = 0; i < span.Length; i++)
                if ((ulong)span[i] >= (ulong)vocabSize)
                    throw new InvalidInputException($"{split.Path}: token {start + i} has id {span[i]}, outside the vocabulary of {vocabSize} "
                        + "(the data was prepared with another tokenizer, or the file is damaged)");
        }
    }

    public DataManifest Manifest => train.Manifest;

    public double ValidationTokensPerByte { get; }

    public (Tensor Inputs, Tensor Targets) TrainBatch(long index) => ToTensors(sampler.GetBatch(index));

    public IEnumerable<(Tensor Inputs, Tensor Targets)> ValidationBatches(int maxBatches) =>
        SequentialWindows.Batches(validation, batchSize, blockSize, (long)maxBatches * batchSize).Select(ToTensors);

    static (Tensor, Tensor) ToTensors(TokenBatch b) =>
        (tensor(b.Inputs, b.Inputs.Length / b.BlockSize, b.BlockSize), tensor(b.Targets, b.Targets.Length / b.BlockSize, b.BlockSize));

    public void Dispose()
    {
        train.Dispose();
        validation.Dispose();
    }
}
