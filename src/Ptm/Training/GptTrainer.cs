using System.Diagnostics;
using System.Text.Json;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ptm.Training;

public sealed record StepReport(int Step, int MaxSteps, double Loss, double LearningRate, double GradNorm, double TokensPerSecond, TimeSpan Elapsed);

public sealed record EvalReport(int Step, double Loss)
{
    public double Perplexity => Math.Exp(Loss);
    public double BitsPerByte(double tokensPerByte) => Loss * tokensPerByte / Math.Log(2);
}

public enum TrainingOutcome { Completed, Interrupted }

public sealed record TrainingResult(TrainingOutcome Outcome, int Step, IReadOnlyList<double> Losses, EvalReport? LastEval, string? Checkpoint);

/// <summary>Raised when the loss stops being a finite number; the message names the step.</summary>
public sealed class NonFiniteLossException(string message) : Exception(message);

/// <summary>
/// Causal-LM pre-training loop: AdamW with decay groups, warm-up + cosine schedule, gradient accumulation
/// normalised by the target-token count of the whole step, clipping by global norm, periodic evaluation and
/// atomic checkpoints. Everything that affects the numbers is restored on resume, so N steps, a resume and N
/// more give the same losses and weights as 2N steps in one go.
/// </summary>
public sealed class GptTrainer
{
    readonly Gpt model;
    readonly ITokenizer tokenizer;
    readonly TrainingConfig config;
    readonly ITrainingData data;
    readonly string runDir;
    readonly AdamW optimizer;
    readonly LearningRateSchedule schedule;
    TrainerState state = new();

    public GptTrainer(Gpt model, ITokenizer tokenizer, TrainingConfig config, ITrainingData data, string runDir)
    {
        this.model = model;
        this.tokenizer = tokenizer;
        this.config = config;
        this.data = data;
        this.runDir = runDir;
        optimizer = OptimizerFactory.AdamW(model, config.LearningRate, config.WeightDecay, config.Beta1, config.Beta2);
        schedule = LearningRateSchedule.From(config);
    }

    public event Action<StepReport>? StepCompleted;
    public event Action<EvalReport>? Evaluated;
    public event Action<string>? CheckpointSaved;

    public string MetricsPath => Path.Combine(runDir, "metrics.jsonl");

    /// <summary>Continues from a checkpoint folder written by this trainer.</summary>
    public void Resume(string checkpointDir)
    {
        ModelFolder.LoadWeights(model, Path.Combine(checkpointDir, ModelFolder.WeightsFile));
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

            double stepLoss = 0;
            long stepTokens = 0;
            double gradNorm;
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                var micro = new List<(Tensor X, Tensor Y)>(config.GradientAccumulationSteps);
                for (int m = 0; m < config.GradientAccumulationSteps; m++) micro.Add(data.TrainBatch(state.DataPosition + m));
                stepTokens = micro.Sum(b => b.Y.ne(-100).sum().item<long>());
                foreach (var (x, y) in micro)
                {
                    using var microScope = NewDisposeScope();
                    var loss = Gpt.Loss(model.forward(x), y, normalizer: stepTokens);
                    loss.backward();
                    stepLoss += loss.item<float>();
                }
                if (!double.IsFinite(stepLoss))
                    throw new NonFiniteLossException($"loss became {stepLoss} at step {step + 1}; stopped without updating the weights (last good checkpoint: {Checkpoints.Latest(runDir) ?? "none"})");
                gradNorm = config.GradClip > 0
                    ? nn.utils.clip_grad_norm_(parameters, config.GradClip)
                    : double.NaN;
                optimizer.step();
            }
            state = state with { Step = step + 1, DataPosition = state.DataPosition + config.GradientAccumulationSteps, TokensSeen = state.TokensSeen + stepTokens };
            losses.Add(stepLoss);
            windowTokens += stepTokens;

            int done = state.Step;
            if (done % config.LogInterval == 0 || done == config.MaxSteps || done == 1)
            {
                double tps = windowTokens / Math.Max(1e-9, windowClock.Elapsed.TotalSeconds);
                var report = new StepReport(done, config.MaxSteps, stepLoss, lr, gradNorm, tps, clock.Elapsed);
                AppendMetrics(new { step = done, loss = stepLoss, lr, grad_norm = double.IsFinite(gradNorm) ? gradNorm : (double?)null, tokens_per_sec = tps, elapsed_s = clock.Elapsed.TotalSeconds });
                StepCompleted?.Invoke(report);
                windowClock.Restart();
                windowTokens = 0;
            }
            if (done % config.EvalInterval == 0 || done == config.MaxSteps)
            {
                lastEval = Evaluate();
                if (state.BestValLoss is null || lastEval.Loss < state.BestValLoss) state = state with { BestValLoss = lastEval.Loss };
                AppendMetrics(new { step = done, val_loss = lastEval.Loss, val_ppl = lastEval.Perplexity, val_bpb = lastEval.BitsPerByte(data.ValidationTokensPerByte) });
                Evaluated?.Invoke(lastEval);
            }
            if (done % config.CheckpointInterval == 0 || done == config.MaxSteps)
                lastCheckpoint = SaveCheckpoint();
        }
        return new TrainingResult(TrainingOutcome.Completed, state.Step, losses, lastEval, lastCheckpoint);
    }

    /// <summary>Mean loss per target token over the fixed validation windows.</summary>
    public EvalReport Evaluate()
    {
        model.eval();
        try
        {
            using var _ = no_grad();
            double sum = 0;
            long count = 0;
            foreach (var (x, y) in data.ValidationBatches(config.EvalIters))
            {
                using var scope = NewDisposeScope();
                sum += Gpt.Loss(model.forward(x), y, normalizer: 1.0).item<float>();
                count += y.ne(-100).sum().item<long>();
            }
            if (count == 0) throw new InvalidInputException("validation split yields no windows");
            return new EvalReport(state.Step, sum / count);
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
        string dir = Checkpoints.Save(runDir, state.Step, model, tokenizer, config, optimizer, state);
        CheckpointSaved?.Invoke(dir);
        return dir;
    }

    void AppendMetrics(object record) => File.AppendAllText(MetricsPath, JsonSerializer.Serialize(record) + "\n");
}
