using Ptm.Kernels;
using System.Diagnostics;
using System.Text.Json;
using Ptm.Modeling;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ptm.Training;

public sealed record StepReport(int Step, int MaxSteps, double Loss, double LearningRate, double GradNorm, double TokensPerSecond,
    TimeSpan Elapsed, IReadOnlyDictionary<string, double> Metrics);

public sealed record EvalReport(int Step, IReadOnlyDictionary<string, double> Metrics)
{
    public double Loss => Metrics["loss"];
}

public enum TrainingOutcome { Completed, Interrupted }

public sealed record TrainingResult(TrainingOutcome Outcome, int Step, IReadOnlyList<double> Losses, EvalReport? LastEval, string? Checkpoint);

/// <summary>Raised when the loss stops being a finite number; the message names the step.</summary>
public sealed class NonFiniteLossException(string message) : Exception(message);

/// <summary>
/// The pre-training loop shared by every model family: AdamW with decay groups, warm-up + cosine schedule,
/// gradient accumulation, clipping by global norm, periodic evaluation and atomic checkpoints. Everything
/// that affects the numbers is restored on resume, so N steps, a resume and N more give the same losses and
/// weights as 2N steps in one go.
/// </summary>
public sealed class Trainer
{
    readonly ITrainingObjective objective;
    readonly TrainingConfig config;
    readonly string runDir;
    readonly AdamW optimizer;
    readonly LearningRateSchedule schedule;
    TrainerState state = new();

    public Trainer(ITrainingObjective objective, TrainingConfig config, string runDir)
    {
        this.objective = objective;
        this.config = config;
        this.runDir = runDir;
        optimizer = OptimizerFactory.AdamW(objective.Model, config.LearningRate, config.WeightDecay, config.Beta1, config.Beta2);
        schedule = LearningRateSchedule.From(config);
    }

    public event Action<StepReport>? StepCompleted;
    public event Action<EvalReport>? Evaluated;
    public event Action<string>? CheckpointSaved;

    /// <summary>
    /// Conditions that do not stop training but that a user should know of, each once per trainer, at the start of
    /// <see cref="Run"/>: <c>training.precision</c> "bfloat16" on a CPU without native bfloat16 dot products, and why
    /// the kernels run another path than asked or than the CPU's best (<see cref="FusedKernels.PathNote"/>). The
    /// library never prints them; a front end shows them.
    /// </summary>
    public event Action<string>? Warning;

    /// <summary>The warnings raised so far through <see cref="Warning"/>.</summary>
    public IReadOnlyList<string> Warnings => warnings;

    readonly List<string> warnings = [];
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

    public string MetricsPath => Path.Combine(runDir, "metrics.jsonl");

    /// <summary>Continues from a checkpoint folder written by this trainer.</summary>
    public void Resume(string checkpointDir)
    {
        ModelFolder.LoadWeights(objective.Model, Path.Combine(checkpointDir, ModelFolder.WeightsFile));
        Checkpoints.LoadOptimizer(checkpointDir, optimizer);
        state = Checkpoints.LoadState(checkpointDir);
        if (state.RngState.Length > 0)
        {
            using var rng = tensor(Convert.FromBase64String(state.RngState));
            set_rng_state(rng);
        }
    }

    public int Step => state.Step;

    public TrainingResult Run(CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(runDir);
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

        while (state.Step < config.MaxSteps)
        {
            if (cancellation.IsCancellationRequested)
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
                using (MixedPrecision.Use(config.ComputeType))
                    outcome = objective.ForwardBackward(state.DataPosition, config.GradientAccumulationSteps);
                if (!double.IsFinite(outcome.Loss))
                    throw new NonFiniteLossException($"loss became {outcome.Loss} at step {step + 1}; stopped without updating the weights (last good checkpoint: {Checkpoints.Latest(runDir) ?? "none"})");
                gradNorm = config.GradClip > 0 ? nn.utils.clip_grad_norm_(parameters, config.GradClip) : double.NaN;
                optimizer.step();
            }
            state = state with { Step = step + 1, DataPosition = state.DataPosition + config.GradientAccumulationSteps, TokensSeen = state.TokensSeen + outcome.Tokens };
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
            if (done % config.EvalInterval == 0 || done == config.MaxSteps)
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

    string SaveCheckpoint()
    {
        using var rng = get_rng_state();
        state = state with { RngState = Convert.ToBase64String(rng.bytes.ToArray()) };
        string dir = Checkpoints.Save(runDir, state.Step, objective.SaveModel, config, optimizer, state);
        CheckpointSaved?.Invoke(dir);
        return dir;
    }

    void AppendMetrics(Dictionary<string, object?> record) => File.AppendAllText(MetricsPath, JsonSerializer.Serialize(record) + "\n");
}
