using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>Where the trainer gets token windows from. Batches are a pure function of their index, so a
/// resumed run sees exactly the stream an uninterrupted run would have seen.</summary>
public interface ITrainingData
{
    /// <summary>Inputs and next-token targets, each (B, T) int64, for micro-batch number <paramref name="index"/>.</summary>
    (Tensor Inputs, Tensor Targets) TrainBatch(long index);

    /// <summary>A fixed set of held-out windows, the same on every call.</summary>
    IEnumerable<(Tensor Inputs, Tensor Targets)> ValidationBatches(int maxBatches);

    /// <summary>Tokens per UTF-8 byte of the validation text, to turn nats per token into bits per byte.</summary>
    double ValidationTokensPerByte { get; }
}
