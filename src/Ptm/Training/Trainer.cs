using Ptm.Distributed;
using Ptm.IO;
using Ptm.Kernels;
using System.Diagnostics;
using System.Text.Json;
using Ptm.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>A logged training step, as <see cref="Trainer.StepCompleted"/> reports it and metrics.jsonl records it.</summary>
/// <param name="Step">Steps completed, counting this one (1-based).</param>
/// <param name="MaxSteps">The run's last step (<see cref="TrainingConfig.MaxSteps"/>).</param>
/// <param name="Loss">The step's loss: the objective's mean over all the step's micro-batches.</param>
/// <param name="LearningRate">The learning rate the step's update used.</param>
/// <param name="GradNorm">Global L2 norm of the gradients before clipping; NaN when clipping is off (GradClip 0).</param>
/// <param name="TokensPerSecond">Tokens trained per second since the previous logged step.</param>
/// <param name="Elapsed">Wall-clock time since <see cref="Trainer.Run"/> started.</param>
/// <param name="Metrics">The objective's further metrics for the step (e.g. "mlm_loss"); may be empty.</param>
public sealed record StepReport(int Step, int MaxSteps, double Loss, double LearningRate, double GradNorm, double TokensPerSecond,
    TimeSpan Elapsed, IReadOnlyDictionary<string, double> Metrics);

/// <summary>An evaluation on the held-out data, as <see cref="Trainer.Evaluated"/> reports it.</summary>
/// <param name="Step">Steps completed when the evaluation ran.</param>
/// <param name="Metrics">The objective's metrics (<see cref="ITrainingObjective.Evaluate"/>); always has "loss".</param>
public sealed record EvalReport(int Step, IReadOnlyDictionary<string, double> Metrics)
{
    /// <summary>The held-out loss, <c>Metrics["loss"]</c>; the value "best" is judged by.</summary>
    public double Loss => Metrics["loss"];
}

/// <summary>How <see cref="Trainer.Run"/> ended.</summary>
public enum TrainingOutcome
{
    /// <summary>The run reached <see cref="TrainingConfig.MaxSteps"/>.</summary>
    Completed,
    /// <summary>The cancellation token stopped the run between steps (after a checkpoint, with a run folder).</summary>
    Interrupted,
}

/// <summary>What <see cref="Trainer.Run"/> returns.</summary>
/// <param name="Outcome">Whether the run reached its last step or was interrupted.</param>
/// <param name="Step">Steps completed (a resumed run counts the checkpoint's).</param>
/// <param name="Losses">Each step's loss, for the steps this call ran.</param>
/// <param name="LastEval">The last evaluation of this call, or null if none ran.</param>
/// <param name="Checkpoint">The last checkpoint folder this call wrote, or null (none written, or no run folder).</param>
public sealed record TrainingResult(TrainingOutcome Outcome, int Step, IReadOnlyList<double> Losses, EvalReport? LastEval, string? Checkpoint);

/// <summary>Raised when the loss stops being a finite number; the message names the step.</summary>
public sealed class NonFiniteLossException(string message) : Exception(message);

/// <summary>
/// The training loop shared by pre-training and fine-tuning: AdamW with decay groups, warm-up + cosine schedule,
/// gradient accumulation, clipping by global norm, periodic evaluation and, when it has a run folder, metrics.jsonl
/// and atomic checkpoints. Everything that affects the numbers is restored on resume, so N steps, a resume and N more
/// give the same losses and weights as 2N steps in one go.
/// </summary>
/// <remarks>
/// <para>The config is checked when the trainer is constructed (<see cref="TrainingConfig.Validate()"/>): a field out
/// of range is an <see cref="InvalidOptionException"/> naming <c>TrainingConfig.Property</c>. A warm-up longer than the
/// run (WarmupSteps &gt; MaxSteps) would leave the learning rate below its peak for the whole run; the trainer clips
/// the warm-up to MaxSteps instead and says so in <see cref="Warnings"/>.</para>
/// <para><see cref="TrainingConfig.Seed"/> seeds libtorch's generator when the trainer is constructed, so dropout
/// draws the same masks on every run; the order of the data is the objective's (the recipes in
/// <see cref="Pretraining"/> and <see cref="Ptm.FineTuning.FineTuner"/> build it from the same seed).</para>
/// <para>The trainer owns its optimizer and must be disposed; the objective, its model and data stay the caller's.
/// Cancelling the token given to <see cref="Run"/> finishes the current step, writes a checkpoint (with a run
/// folder) and returns <see cref="TrainingOutcome.Interrupted"/>.</para>
/// <para>With an <see cref="IProcessGroup"/> of N ranks the trainer trains data-parallel: a step is N ×
/// GradientAccumulationSteps micro-batches, rank r taking the r-th consecutive slice of them (a pure function of the
/// step and the rank), and the gradients are summed over the ranks before clipping and the update, so every rank holds
/// the same weights and the step equals one process running all the micro-batches with accumulation. The loss reported
/// is the whole step's, other step metrics are rank 0's share. Only rank 0 evaluates and should be given the run
/// folder; dropout is reseeded from (seed, step, rank) every step, so a resume with any number of ranks is
/// deterministic. A checkpoint's data position counts micro-batches of all ranks, so a run may resume with a different
/// number of ranks. Cancellation on any rank stops all of them after the same step.</para>
/// </remarks>
public sealed class Trainer : IDisposable
{
    readonly ITrainingObjective objective;
    readonly TrainingConfig config;
    readonly string? runDir;
    readonly AdamW optimizer;
    readonly LearningRateSchedule schedule;
    readonly List<string> warnings = [];
    readonly IProcessGroup? group;
    TrainerState state = new();
    bool disposed;

    /// <summary>A trainer for <paramref name="objective"/>; with a <paramref name="runDirectory"/> it appends
    /// metrics.jsonl there and writes checkpoints to its checkpoints/ folder, without one nothing touches the disk.
    /// With a <paramref name="processGroup"/> it trains data-parallel with the other ranks (see the remarks).</summary>
    /// <exception cref="InvalidOptionException">a field of <paramref name="config"/> is out of range</exception>
    /// <exception cref="InvalidInputException">a process group is given for an objective that is not an
    /// <see cref="IDataParallelObjective"/></exception>
    public Trainer(ITrainingObjective objective, TrainingConfig config, string? runDirectory = null, IProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(objective);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        if (processGroup is not null && objective is not IDataParallelObjective)
            throw new InvalidInputException($"{objective.GetType().Name} cannot train data-parallel (it is not an {nameof(IDataParallelObjective)})");
        group = processGroup;
        if (config.WarmupSteps > config.MaxSteps)
        {
            warnings.Add($"TrainingConfig.WarmupSteps ({config.WarmupSteps}) is longer than the run (MaxSteps {config.MaxSteps}); "
                + $"the warm-up is clipped to {config.MaxSteps} steps so the learning rate reaches its peak");
            config = config with { WarmupSteps = config.MaxSteps };
        }
        this.objective = objective;
        this.config = config;
        runDir = runDirectory;
        torch.manual_seed(config.Seed);
        optimizer = OptimizerFactory.AdamW(objective.Model, config.LearningRate, config.WeightDecay, config.Beta1, config.Beta2);
        schedule = LearningRateSchedule.From(config);
    }

    /// <summary>After each logged step (every LogInterval steps, the first and the last).</summary>
    public event Action<StepReport>? StepCompleted;
    /// <summary>After each evaluation (every EvalInterval steps and the last).</summary>
    public event Action<EvalReport>? Evaluated;
    /// <summary>After each checkpoint, with its folder (only with a run folder).</summary>
    public event Action<string>? CheckpointSaved;

    /// <summary>
    /// Conditions that do not stop training but that a user should know of, one sentence each: what the trainer
    /// changed in the config it was given (a warm-up clipped to the run, known at construction), and, from the start of
    /// <see cref="Run"/>, <c>training.precision</c> "bfloat16" on a CPU without native bfloat16 dot products and why the
    /// kernels run another path than asked or than the CPU's best (<see cref="FusedKernels.PathNote"/>). The library
    /// never prints them; a front end shows them.
    /// </summary>
    public IReadOnlyList<string> Warnings => warnings;

    /// <summary>Raised for each warning added when <see cref="Run"/> starts (those of construction are in
    /// <see cref="Warnings"/> already).</summary>
    public event Action<string>? Warning;

    bool warned;

    void WarnOnce()
    {
        if (warned) return;
        warned = true;
        var (_, precision) = MixedPrecision.Resolve(config.Precision, CpuFeatures.HasBf16DotProduct);
        foreach (var w in new[] { precision, FusedKernels.PathNote is { } note ? $"kernels: {note}" : null })
        {
            if (w is null) continue;
            warnings.Add(w);
            Warning?.Invoke(w);
        }
    }

    /// <summary>The config in effect: the one given, after the changes listed in <see cref="Warnings"/>.</summary>
    public TrainingConfig Config => config;

    /// <summary>The group this trainer trains with, or null for a single process.</summary>
    public IProcessGroup? ProcessGroup => group;

    /// <summary>Whether this process evaluates and reports for the group: always without a group, rank 0 with one.</summary>
    public bool IsRoot => group is null || group.Rank == 0;

    /// <summary>The run folder, or null when the trainer writes nothing.</summary>
    public string? RunDirectory => runDir;

    /// <summary>The run folder's metrics.jsonl, or null without a run folder.</summary>
    public string? MetricsPath => runDir is null ? null : Path.Combine(runDir, "metrics.jsonl");

    /// <summary>Continues from a checkpoint folder written by this trainer: weights, optimizer moments, step, data
    /// position and the generator's state; metrics.jsonl loses the lines of steps after the checkpoint (and a line a
    /// kill cut short). Checksums are not checked here (see <see cref="Checkpoints.Verify"/>).</summary>
    public void Resume(string checkpointDir)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        ModelFolder.LoadWeights(objective.Model, Path.Combine(checkpointDir, objective.ResumeWeightsFile));
        Checkpoints.LoadOptimizer(checkpointDir, optimizer);
        state = Checkpoints.LoadState(checkpointDir);
        if (state.RngState.Length > 0)
        {
            using var rng = tensor(Convert.FromBase64String(state.RngState));
            set_rng_state(rng);
        }
        if (MetricsPath is { } metrics) MetricsFile.Trim(metrics, state.Step); // the steps after the checkpoint run (and log) again
    }

    /// <summary>Steps completed so far (after <see cref="Resume"/>, the checkpoint's).</summary>
    public int Step => state.Step;

    /// <summary>Trains until MaxSteps or until <paramref name="cancellation"/> is cancelled (then the current step
    /// finishes, a checkpoint is written when there is a run folder, and the outcome is Interrupted).</summary>
    /// <exception cref="NonFiniteLossException">the loss became NaN or infinite; the weights were not updated</exception>
    public TrainingResult Run(CancellationToken cancellation = default)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (runDir is not null) Directory.CreateDirectory(runDir);
        WarnOnce();
        var model = objective.Model;
        var losses = new List<double>();
        EvalReport? lastEval = null;
        string? lastCheckpoint = null;
        var clock = Stopwatch.StartNew();
        var windowClock = Stopwatch.StartNew();
        long windowTokens = 0;
        model.train();
        var parameters = model.parameters().ToList();
        var allReduce = group is null ? null : new GradientAllReduce(group, parameters.Where(p => p.requires_grad).ToList());
        if (group is not null) BroadcastWeights(group, model);
        int ranks = group?.Size ?? 1, rank = group?.Rank ?? 0;
        int microBatches = config.GradientAccumulationSteps;

        while (state.Step < config.MaxSteps)
        {
            if (StopRequested(cancellation))
            {
                lastCheckpoint = SaveCheckpoint();
                return new TrainingResult(TrainingOutcome.Interrupted, state.Step, losses, lastEval, lastCheckpoint);
            }
            int step = state.Step;
            double lr = schedule.At(step);
            OptimizerFactory.SetLearningRate(optimizer, lr);

            StepOutcome outcome;
            double gradNorm;
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                if (group is null)
                {
                    using (MixedPrecision.Use(config.ComputeType))
                        outcome = objective.ForwardBackward(state.DataPosition, microBatches);
                }
                else
                {
                    torch.manual_seed(StepSeed(config.Seed, step, rank));
                    using (MixedPrecision.Use(config.ComputeType))
                        outcome = ((IDataParallelObjective)objective).ForwardBackward(state.DataPosition + (long)rank * microBatches, microBatches, counts => group.AllReduceSum(counts.AsSpan()));
                    allReduce!.Run();
                    double[] sums = [outcome.Loss, outcome.Tokens];
                    group.AllReduceSum(sums);
                    outcome = outcome with { Loss = sums[0], Tokens = (long)sums[1] };
                }
                if (!double.IsFinite(outcome.Loss))
                    throw new NonFiniteLossException($"loss became {outcome.Loss} at step {step + 1}; stopped without updating the weights (last good checkpoint: {(runDir is null ? null : Checkpoints.Latest(runDir)) ?? "none"})");
                gradNorm = config.GradClip > 0 ? nn.utils.clip_grad_norm_(parameters, config.GradClip) : double.NaN;
                optimizer.step();
            }
            state = state with { Step = step + 1, DataPosition = state.DataPosition + (long)ranks * microBatches, TokensSeen = state.TokensSeen + outcome.Tokens };
            losses.Add(outcome.Loss);
            windowTokens += outcome.Tokens;

            int done = state.Step;
            if (done % config.LogInterval == 0 || done == config.MaxSteps || done == 1)
            {
                double tps = windowTokens / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds);
                var record = new Dictionary<string, object?>
                {
                    ["step"] = done, ["loss"] = outcome.Loss, ["lr"] = lr,
                    ["grad_norm"] = double.IsFinite(gradNorm) ? gradNorm : null,
                    ["tokens_per_sec"] = tps, ["elapsed_s"] = clock.Elapsed.TotalSeconds,
                };
                foreach (var (k, v) in outcome.Metrics) record[k] = v;
                AppendMetrics(record);
                StepCompleted?.Invoke(new StepReport(done, config.MaxSteps, outcome.Loss, lr, gradNorm, tps, clock.Elapsed, outcome.Metrics));
                windowClock.Restart();
                windowTokens = 0;
            }
            if ((done % config.EvalInterval == 0 || done == config.MaxSteps) && IsRoot)
            {
                lastEval = Evaluate();
                if (state.BestValLoss is null || lastEval.Loss < state.BestValLoss) state = state with { BestValLoss = lastEval.Loss };
                var record = new Dictionary<string, object?> { ["step"] = done };
                foreach (var (k, v) in lastEval.Metrics) record["val_" + k] = v;
                AppendMetrics(record);
                Evaluated?.Invoke(lastEval);
            }
            if (done % config.CheckpointInterval == 0 || done == config.MaxSteps)
                lastCheckpoint = SaveCheckpoint();
        }
        return new TrainingResult(TrainingOutcome.Completed, state.Step, losses, lastEval, lastCheckpoint);
    }

    /// <summary>Copies rank 0's parameters and buffers to every rank (as PyTorch's DDP does when it starts), so the ranks
    /// start identical even where initialisation or a loaded file could differ between machines.</summary>
    static void BroadcastWeights(IProcessGroup group, nn.Module model)
    {
        using var _ = no_grad();
        foreach (var t in model.parameters().Concat(model.buffers()))
        {
            if (!t.is_contiguous()) throw new InvalidOperationException("a parameter is not contiguous; cannot broadcast it in place");
            group.Broadcast(t.bytes, root: 0);
        }
    }

    /// <summary>Whether to stop before the next step: the token's state, agreed over the group (any rank cancelled
    /// stops all, so none waits in a collective for one that left).</summary>
    bool StopRequested(CancellationToken cancellation)
    {
        bool stop = cancellation.IsCancellationRequested;
        if (group is null) return stop;
        long[] votes = [stop ? 1 : 0];
        group.AllReduceSum(votes);
        return votes[0] > 0;
    }

    /// <summary>The generator seed for <paramref name="rank"/>'s share of <paramref name="step"/> (0-based): distinct
    /// per rank and step, and a pure function of them, so resumes are exact for any number of ranks.</summary>
    internal static long StepSeed(long seed, int step, int rank)
    {
        ulong z = unchecked((ulong)seed + 0x9E3779B97F4A7C15UL * (ulong)(step + 1) + 0xBF58476D1CE4E5B9UL * (ulong)(rank + 1));
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (long)((z ^ (z >> 31)) >> 1);
    }

    /// <summary>The objective's held-out metrics, in eval mode and without gradients.</summary>
    public EvalReport Evaluate()
    {
        var model = objective.Model;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var precision = MixedPrecision.Use(config.ComputeType);
            return new EvalReport(state.Step, objective.Evaluate(config.EvalIters));
        }
        finally
        {
            model.train();
        }
    }

    string? SaveCheckpoint()
    {
        if (runDir is null || !IsRoot) return null;
        using var rng = get_rng_state();
        state = state with { RngState = Convert.ToBase64String(rng.bytes.ToArray()) };
        string dir = Checkpoints.Save(runDir, state.Step, objective.SaveModel, config, optimizer, state);
        CheckpointSaved?.Invoke(dir);
        return dir;
    }

    void AppendMetrics(Dictionary<string, object?> record)
    {
        if (MetricsPath is { } path && IsRoot) StorageException.Guard(path, "metrics", () => File.AppendAllText(path, JsonSerializer.Serialize(record) + "\n"));
    }

    /// <summary>Releases the optimizer's state (its moment tensors); the model and objective are not touched.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        optimizer.Dispose();
    }
}
