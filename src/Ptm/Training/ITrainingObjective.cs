using TorchSharp;

namespace Ptm.Training;

/// <summary>What one optimiser step's micro-batches produced: the step's loss, the target tokens it was
/// normalised by, and any per-objective metrics (e.g. "mlm_loss", "nsp_acc").</summary>
public sealed record StepOutcome(double Loss, long Tokens, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// The model-family-specific half of pre-training; <see cref="Trainer"/> owns the rest (optimiser, schedule,
/// clipping, evaluation cadence, checkpoints, resume).
/// </summary>
public interface ITrainingObjective
{
    /// <summary>The model being trained, owned by the caller; the trainer optimises all its parameters that require
    /// gradients and switches it between train and eval mode.</summary>
    torch.nn.Module Model { get; }

    /// <summary>
    /// Runs forward and backward over micro-batches <paramref name="firstIndex"/> .. +<paramref name="count"/>-1,
    /// each loss normalised by the whole step's counts so the accumulated gradient equals that of one big batch.
    /// Batches are a pure function of their index.
    /// </summary>
    StepOutcome ForwardBackward(long firstIndex, int count);

    /// <summary>Metrics over a fixed held-out set; "loss" is required and is what "best" means.</summary>
    IReadOnlyDictionary<string, double> Evaluate(int maxBatches);

    /// <summary>Writes config.json, model.safetensors and tokenizer files into <paramref name="directory"/>.</summary>
    void SaveModel(string directory);
}
