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

    public PreparedTrainingData(string directory, int batchSize, int blockSize, long seed)
    {
        this.batchSize = batchSize;
        this.blockSize = blockSize;
        train = TokenDataset.Open(directory, Preparer.TrainSplit);
        validation = TokenDataset.Open(directory, Preparer.ValidationSplit);
        sampler = new BatchSampler(train, batchSize, blockSize, (ulong)seed);
        var split = validation.Manifest.Splits[Preparer.ValidationSplit];
        ValidationTokensPerByte = split.SourceBytes > 0 ? (double)split.Tokens / split.SourceBytes : double.NaN;
        // Fail now, not at the first evaluation, if the held-out text is too short for one window.
        SequentialWindows.Batches(validation, batchSize, blockSize, 1).First();
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
