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

    /// <summary>The file <see cref="SaveModel"/> writes that holds every weight of <see cref="Model"/> under its own
    /// names, which a resume loads: model.safetensors, unless that file holds only part of the model.</summary>
    string ResumeWeightsFile => ModelFolder.WeightsFile;
}

/// <summary>
/// An objective that can train data-parallel (<see cref="Trainer"/> with an <see cref="Distributed.IProcessGroup"/>):
/// every rank runs its own micro-batches, and the counts each loss is divided by are summed over all ranks before any
/// backward pass, so the gradients summed over the ranks equal one process's gradient over all their micro-batches.
/// </summary>
public interface IDataParallelObjective : ITrainingObjective
{
    /// <summary>
    /// <see cref="ITrainingObjective.ForwardBackward(long, int)"/> for one rank's share of a step: micro-batches
    /// <paramref name="firstIndex"/> .. +<paramref name="count"/>-1, each loss normalised by counts that
    /// <paramref name="sumCounts"/> has summed in place over every rank (it is a collective: call it exactly once, with
    /// the same number of counts on every rank, before the first backward). Returns this rank's share of the step's
    /// loss and metrics and its own tokens; the trainer sums loss and tokens over the ranks.
    /// </summary>
    StepOutcome ForwardBackward(long firstIndex, int count, Action<long[]> sumCounts);
}
