using Ptm.IO;
using Ptm.Training;

namespace Ptm.FineTuning;

/// <summary>
/// The papers' fine-tuning recipes, the defaults of <see cref="FineTuningOptions"/>. BERT (Devlin et al. 2018, §A.3):
/// lr from {5e-5, 3e-5, 2e-5}, batch 32, 3 epochs, warm-up 10%, weight decay 0.01. GPT-1 (Radford et al. 2018, §4.1):
/// lr 6.25e-5, batch 32, 3 epochs, warm-up 0.2% of training, λ = 0.5, weight decay 0.01 (their L2 w = 0.01).
/// </summary>
public sealed record FineTuningRecipe(double LearningRate, int BatchSize, int Epochs, double WarmupRatio, double WeightDecay)
{
    /// <summary>BERT's recipe.</summary>
    public static readonly FineTuningRecipe Bert = new(3e-5, 32, 3, 0.1, 0.01);

    /// <summary>GPT-1's recipe.</summary>
    public static readonly FineTuningRecipe Gpt = new(6.25e-5, 32, 3, 0.002, 0.01);

    /// <summary>ELMo's: a fresh scalar mix and classifier over a small biLM train at Adam's usual 1e-3 (Peters et al.
    /// train their task models with Adam at 1e-3); batch 32, 3 epochs, warm-up 10%, weight decay 0.01.</summary>
    public static readonly FineTuningRecipe Elmo = new(1e-3, 32, 3, 0.1, 0.01);

    /// <summary>The recipe for a model family: GPT-1's for <see cref="ModelFamily.Gpt2"/>, ELMo's for <see cref="ModelFamily.Elmo"/>, BERT's otherwise.</summary>
    public static FineTuningRecipe For(ModelFamily family) => family switch { ModelFamily.Gpt2 => Gpt, ModelFamily.Elmo => Elmo, _ => Bert };
}

/// <summary>
/// How to fine-tune. Null settings take the model family's <see cref="FineTuningRecipe"/>; tiny models usually want a
/// larger <see cref="LearningRate"/> than the papers' full-size ones.
/// </summary>
public sealed record FineTuningOptions
{
    /// <summary>Passes over the training set; null: the recipe's (3).</summary>
    public int? Epochs { get; init; }
    /// <summary>Peak learning rate; null: the recipe's (BERT 3e-5, GPT 6.25e-5). Not together with <see cref="LearningRates"/>.</summary>
    public double? LearningRate { get; init; }
    /// <summary>A learning-rate sweep: one run per rate, the best on validation kept (see <see cref="LearningRateSweep"/>); null for one run.</summary>
    public IReadOnlyList<double>? LearningRates { get; init; }
    /// <summary>Examples per step; null: the recipe's (32).</summary>
    public int? BatchSize { get; init; }
    /// <summary>Share of the steps with linear warm-up, in [0, 1); null: the recipe's (BERT 0.1, GPT 0.002).</summary>
    public double? WarmupRatio { get; init; }
    /// <summary>AdamW weight decay on matrices; null: the recipe's (0.01).</summary>
    public double? WeightDecay { get; init; }
    /// <summary>GPT only: weight λ of the auxiliary language-model loss (0 turns it off). Default 0.5.</summary>
    public double LmCoef { get; init; } = 0.5;
    /// <summary>Train only the head; the pre-trained weights stay fixed.</summary>
    public bool FreezeEncoder { get; init; }
    /// <summary>Tokens per sequence; null: the model's context. Longer texts are truncated with a warning.</summary>
    public int? MaxLength { get; init; }
    /// <summary>Seeds the head's initialisation, the shuffling, dropout and the validation split. Default 1337.</summary>
    public long Seed { get; init; } = 1337;
    /// <summary>Span QA: tokens between the starts of a long context's windows; null: a third of the max length.</summary>
    public int? DocStride { get; init; }
    /// <summary>Span QA: longest answer considered, in tokens. Default 30.</summary>
    public int MaxAnswerLength { get; init; } = 30;
    /// <summary>Span QA: start/end candidates per window and answers kept. Default 20.</summary>
    public int NBest { get; init; } = 20;
    /// <summary>Stop after this many epochs without a better validation metric; 0 (default) never stops early.</summary>
    public int Patience { get; init; }
    /// <summary>Share of the training examples held out when no validation examples are given, in (0, 1). Default 0.1.</summary>
    public double ValidationSplit { get; init; } = 0.1;

    /// <summary>Checks every setting; a value out of range is an <see cref="InvalidOptionException"/> naming it.</summary>
    public void Validate()
    {
        const string T = nameof(FineTuningOptions);
        if (Epochs is < 1) throw new InvalidOptionException(T, nameof(Epochs), "must be positive", Epochs);
        if (BatchSize is < 1) throw new InvalidOptionException(T, nameof(BatchSize), "must be positive", BatchSize);
        if (LearningRate is { } lr && !(lr > 0 && double.IsFinite(lr))) throw new InvalidOptionException(T, nameof(LearningRate), "must be positive", lr);
        if (WarmupRatio is < 0 or >= 1) throw new InvalidOptionException(T, nameof(WarmupRatio), "must be in [0, 1)", WarmupRatio);
        if (WeightDecay is < 0) throw new InvalidOptionException(T, nameof(WeightDecay), "must be non-negative", WeightDecay);
        if (LmCoef < 0) throw new InvalidOptionException(T, nameof(LmCoef), "must be >= 0", LmCoef);
        if (Patience < 0) throw new InvalidOptionException(T, nameof(Patience), "must be >= 0", Patience);
        if (ValidationSplit is <= 0 or >= 1) throw new InvalidOptionException(T, nameof(ValidationSplit), "must be in (0, 1)", ValidationSplit);
        if (LearningRates is { } rates)
        {
            if (LearningRate is not null) throw new InvalidOptionException(T, nameof(LearningRates), "must be null when LearningRate is set (give one or the other)", string.Join(",", rates));
            if (rates.Count == 0) throw new InvalidOptionException(T, nameof(LearningRates), "must hold at least one learning rate", "none");
            foreach (double rate in rates)
                if (!(rate > 0 && double.IsFinite(rate))) throw new InvalidOptionException(T, nameof(LearningRates), "must hold positive learning rates", rate);
            if (rates.Distinct().Count() != rates.Count) throw new InvalidOptionException(T, nameof(LearningRates), "must not list a rate twice", string.Join(",", rates));
        }
    }
}

/// <summary>What one fine-tuning run is about to do (raised before training, e.g. to print it).</summary>
public sealed record FineTuningRunStart(string? Directory, FineTuneModel Model, Trainer Trainer, TaskData Train, TaskData Validation,
    EncodedTaskSet TrainSet, EncodedTaskSet ValidationSet, int Epochs, int BatchSize);

/// <summary>How one fine-tuning run ended: its trainer's result and the best evaluation.</summary>
public sealed record FineTuningRunEnd(string? Directory, Trainer Trainer, TrainingResult Result, BestModelKeeper Best);

/// <summary>The outcome of <see cref="FineTuner.Run"/>.</summary>
/// <param name="Model">The fine-tuned model with the best evaluation's weights (of the best learning rate in a sweep).</param>
/// <param name="Metric">The metric "best" refers to (<see cref="BestModelKeeper.PrimaryMetric"/>).</param>
/// <param name="Best">Its best value on validation.</param>
/// <param name="BestStep">The step of that evaluation.</param>
/// <param name="LearningRate">The learning rate of the run that gave it.</param>
/// <param name="LastEval">The last evaluation of that run.</param>
/// <param name="BestDirectory">The run folder's best/ model, or null without a run folder.</param>
/// <param name="Sweep">Every learning rate tried with its best value (one entry without a sweep).</param>
public sealed record FineTuningResult(FineTuneModel Model, string Metric, double Best, int BestStep, double LearningRate, EvalReport? LastEval,
    string? BestDirectory, IReadOnlyList<(double LearningRate, double Best)> Sweep);

/// <summary>
/// Fine-tunes a pre-trained GPT or BERT on a labelled task: a fresh task head, the shared <see cref="Trainer"/>, an
/// evaluation per epoch, the best epoch kept, early stopping and learning-rate sweeps (the library side of
/// <c>ptm finetune</c>).
/// </summary>
/// <remarks>
/// With a run folder, each run writes metrics.jsonl and a checkpoint per epoch and keeps its best model in best/; a
/// sweep runs each rate in lr-X/ and copies the winner's best model to best/ with sweep.json. Without one nothing is
/// written: the best epoch's weights are kept in memory and restored at the end. Subscribe to the events for
/// progress; <see cref="TrainWith"/> lets a shell draw its own progress around <see cref="Trainer.Run"/>.
/// </remarks>
public sealed class FineTuner
{
    readonly string pretrained;
    readonly string modelDirectory;   // the model folder pretrained resolves to (a run folder's best or latest checkpoint)

    /// <summary>A fine-tuner for the model folder (or pre-training run folder) <paramref name="pretrainedModel"/>.</summary>
    public FineTuner(string pretrainedModel, FineTuneTask task, FineTuningOptions? options = null)
    {
        pretrained = pretrainedModel ?? throw new ArgumentNullException(nameof(pretrainedModel));
        Task = task;
        Options = options ?? new FineTuningOptions();
        Options.Validate();
        modelDirectory = Checkpoints.ResolveModelDirectory(pretrained);
        Family = ModelFolder.Family(modelDirectory);
        Recipe = FineTuningRecipe.For(Family);
    }

    /// <summary>The task.</summary>
    public FineTuneTask Task { get; }

    /// <summary>The options as given.</summary>
    public FineTuningOptions Options { get; }

    /// <summary>The pre-trained model's family, from its config.json's <c>model_type</c>.</summary>
    public ModelFamily Family { get; }

    /// <summary>The family's recipe, which fills the options left null.</summary>
    public FineTuningRecipe Recipe { get; }

    /// <summary>Before each run's training starts.</summary>
    public event Action<FineTuningRunStart>? RunStarting;

    /// <summary>After each run.</summary>
    public event Action<FineTuningRunEnd>? RunFinished;

    /// <summary>One line each: examples truncated to the max length, early stops.</summary>
    public event Action<string>? Warning;

    /// <summary>When a run stops early for lack of improvement, with a sentence saying so.</summary>
    public event Action<string>? EarlyStopped;

    /// <summary>Runs a trainer; by default <see cref="Trainer.Run"/>. A shell may wrap it with a progress display.</summary>
    public Func<Trainer, CancellationToken, TrainingResult> TrainWith { get; set; } = (trainer, cancellation) => trainer.Run(cancellation);

    /// <summary>
    /// Fine-tunes on <paramref name="train"/>, judged on <paramref name="validation"/> (or on a seeded
    /// ValidationSplit of <paramref name="train"/> when null). <paramref name="runDirectory"/> must not exist or be
    /// empty unless <paramref name="replace"/> is set (then it must be a fine-tuning run folder).
    /// </summary>
    public FineTuningResult Run(TaskData train, TaskData? validation = null, string? runDirectory = null, bool replace = false, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (runDirectory is not null && File.Exists(runDirectory)) throw new InvalidInputException($"{runDirectory}: is a file; give a folder for the run");
        if (runDirectory is not null && Directory.Exists(runDirectory) && Directory.EnumerateFileSystemEntries(runDirectory).Any())
        {
            if (!replace) throw new InvalidInputException($"{runDirectory}: already exists; replace it (replace: true) or choose another folder");
            if (!IsRunFolder(runDirectory))
                throw new InvalidInputException($"{runDirectory}: is not a Ptm run folder; refusing to delete it");
            // A pre-training run folder (run.json) or the model being fine-tuned must never be replaced.
            if (File.Exists(Path.Combine(runDirectory, RunFolder.RunFile)) || FolderPaths.IsSameOrInside(modelDirectory, runDirectory))
                throw new InvalidInputException($"{runDirectory}: holds the pre-trained model or a pre-training run; refusing to replace it");
        }
        TaskData valData;
        if (validation is not null) valData = validation;
        else (train, valData) = TaskFile.Split(train, Options.ValidationSplit, Options.Seed);
        var labels = FineTuneTasks.HasLabelMap(Task) ? LabelMap.FromTraining(train) : null;

        if (Options.LearningRates is not { } rates)
        {
            var (model, keeper, last) = RunOne(Options.LearningRate ?? Recipe.LearningRate, runDirectory, train, valData, labels, warn: true, cancellation);
            return new FineTuningResult(model, keeper.Metric, keeper.Best, keeper.BestStep, Options.LearningRate ?? Recipe.LearningRate, last,
                runDirectory is null ? null : keeper.Directory, [(Options.LearningRate ?? Recipe.LearningRate, keeper.Best)]);
        }
        // BERT's practice (Devlin et al. 2018, §A.3): fine-tune once per learning rate, keep the best on validation.
        if (runDirectory is not null)
        {
            if (Directory.Exists(runDirectory)) Directory.Delete(runDirectory, recursive: true);
            Directory.CreateDirectory(runDirectory);
        }
        var outcomes = new List<(double Rate, BestModelKeeper Keeper)>();
        (FineTuneModel Model, EvalReport? Last)? winner = null;
        foreach (double rate in rates)
        {
            string? dir = runDirectory is null ? null : Path.Combine(runDirectory, LearningRateSweep.Folder(rate));
            var (model, keeper, last) = RunOne(rate, dir, train, valData, labels, warn: outcomes.Count == 0, cancellation);
            outcomes.Add((rate, keeper));
            // Only the best model so far stays in memory; Pick keeps the first rate on a tie, and so does this.
            if (LearningRateSweep.Pick(outcomes).Rate == rate) winner = (model, last);
            if (cancellation.IsCancellationRequested) break;
        }
        var (bestRate, bestKeeper) = LearningRateSweep.Pick(outcomes);
        if (runDirectory is not null) LearningRateSweep.Promote(runDirectory, bestRate, bestKeeper, outcomes);
        return new FineTuningResult(winner!.Value.Model, bestKeeper.Metric, bestKeeper.Best, bestKeeper.BestStep, bestRate, winner.Value.Last,
            runDirectory is null ? null : Path.Combine(runDirectory, BestModelKeeper.Folder), outcomes.Select(o => (o.Rate, o.Keeper.Best)).ToList());
    }

    /// <summary>Whether <paramref name="dir"/> looks like a fine-tuning run folder (metrics, checkpoints or a sweep).</summary>
    public static bool IsRunFolder(string dir) =>
        File.Exists(Path.Combine(dir, "metrics.jsonl")) || Directory.Exists(Path.Combine(dir, Checkpoints.Folder))
        || File.Exists(Path.Combine(dir, LearningRateSweep.ResultFile));

    // One fine-tuning run: a fresh head (same seed, so runs differ only in the learning rate), the shared Trainer, an
    // evaluation and checkpoint per epoch, and the best epoch's model kept in DIR/best/ (or in memory).
    (FineTuneModel Model, BestModelKeeper Keeper, EvalReport? Last) RunOne(double learningRate, string? dir, TaskData trainData, TaskData valData,
        LabelMap? labels, bool warn, CancellationToken cancellation)
    {
        var o = Options;
        var ft = FineTuneModel.FromPretrained(pretrained, Task, labels, new HeadOptions(o.MaxLength, o.LmCoef, o.Seed, o.DocStride, o.MaxAnswerLength, o.NBest));
        if (o.FreezeEncoder) ft.FreezeEncoder();
        var trainSet = ft.Encode(trainData, requireLabels: true);
        var valSet = ft.Encode(valData, requireLabels: true);
        if (warn)
        {
            if (trainSet.TruncationWarning(ft.Task, ft.Info.MaxLength) is { } w1) Warning?.Invoke(w1);
            if (valSet.TruncationWarning(ft.Task, ft.Info.MaxLength) is { } w2) Warning?.Invoke(w2);
        }
        int batchSize = o.BatchSize ?? Recipe.BatchSize;
        int epochs = o.Epochs ?? Recipe.Epochs;
        int stepsPerEpoch = (trainSet.Count + batchSize - 1) / batchSize;   // span QA: windows, not questions
        int maxSteps = stepsPerEpoch * epochs;
        var config = new TrainingConfig
        {
            BatchSize = batchSize, BlockSize = ft.Info.MaxLength, MaxSteps = maxSteps,
            LearningRate = learningRate, MinLr = 0,
            WarmupSteps = (int)Math.Round((o.WarmupRatio ?? Recipe.WarmupRatio) * maxSteps), WeightDecay = o.WeightDecay ?? Recipe.WeightDecay,
            Beta1 = 0.9, Beta2 = 0.999, GradClip = 1.0,
            EvalInterval = stepsPerEpoch, EvalIters = int.MaxValue, CheckpointInterval = stepsPerEpoch,
            LogInterval = Math.Max(1, stepsPerEpoch / 4), Seed = o.Seed,
        };

        if (dir is not null)
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(dir);
        }
        var objective = new FineTuneObjective(ft, trainSet, valSet, batchSize, o.Seed);
        using var trainer = new Trainer(objective, config, dir);
        var keeper = dir is null ? new BestModelKeeper(Task, ft.Module, o.Patience) : new BestModelKeeper(dir, Task, ft.Save, o.Patience);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        trainer.Evaluated += e =>
        {
            keeper.Observe(e);
            if (keeper.ShouldStop && !stop.IsCancellationRequested)
            {
                EarlyStopped?.Invoke($"early stop: validation {keeper.Metric} has not improved for {o.Patience} epoch(s) (best {keeper.Best:F4} at step {keeper.BestStep})");
                stop.Cancel();
            }
        };
        RunStarting?.Invoke(new FineTuningRunStart(dir, ft, trainer, trainData, valData, trainSet, valSet, epochs, batchSize));
        var result = TrainWith(trainer, stop.Token);
        RunFinished?.Invoke(new FineTuningRunEnd(dir, trainer, result, keeper));
        if (dir is null) keeper.RestoreBest();
        else if (keeper.BestStep >= 0) ModelFolder.LoadWeights(ft.Module, Path.Combine(keeper.Directory, ModelFolder.WeightsFile));
        ft.Module.eval();
        return (ft, keeper, result.LastEval);
    }
}
