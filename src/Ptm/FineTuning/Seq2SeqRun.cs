using System.Text;
using System.Text.Json;
using Ptm.Generation;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;

namespace Ptm.FineTuning;

/// <summary>One epoch of sequence-to-sequence training: the mean training loss (label smoothing included) and, when
/// there is a validation set, its mean per-token cross-entropy after the epoch (no smoothing) and, when BLEU picks the
/// kept epoch, the corpus BLEU of its greedy translations.</summary>
public sealed record Seq2SeqEpoch(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationBleu = null);

/// <summary>The mean of the weights after epochs <paramref name="FirstEpoch"/>..<paramref name="LastEpoch"/>, its
/// validation scores (null without a validation set) and whether the run kept it.</summary>
public sealed record Seq2SeqAverage(int FirstEpoch, int LastEpoch, double? ValidationLoss, double? ValidationBleu, bool Kept);

/// <summary>What Seq2SeqFineTuning.Train did: every epoch's scores, the 1-based epoch that scored best on validation
/// (the last without a validation set), and the weight average when one was asked for; the model ends with the
/// average when <see cref="Seq2SeqAverage.Kept"/>, else with the best epoch's weights.</summary>
public sealed record Seq2SeqTrainingResult(IReadOnlyList<Seq2SeqEpoch> Epochs, int BestEpoch, Seq2SeqAverage? Average = null);

/// <summary>
/// How <see cref="Seq2SeqFineTuning.Translate"/> writes targets: greedy decoding by default, beam search when
/// <see cref="Beam"/> is set (its end and padding tokens and token limit are taken from the model and
/// <see cref="MaxNewTokens"/>). One target per source, so <see cref="BeamSearchOptions.NumReturnSequences"/> must be 1.
/// </summary>
public sealed record Seq2SeqDecodingOptions
{
    /// <summary>Most target tokens written per source, the end token included (default 128); also bounded by
    /// <c>max_position_embeddings</c>.</summary>
    public int MaxNewTokens { get; init; } = 128;
    /// <summary>Longest source in tokens, &lt;s&gt; and &lt;/s&gt; included; longer ones are cut (the end token kept).
    /// Null: <c>max_position_embeddings</c>.</summary>
    public int? MaxSourceLength { get; init; }
    /// <summary>Sources decoded together (default 16).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Beam search settings; null decodes greedily.</summary>
    public BeamSearchOptions? Beam { get; init; }

    /// <summary>Throws <see cref="InvalidOptionException"/> naming the first property out of range.</summary>
    public void Validate()
    {
        const string type = nameof(Seq2SeqDecodingOptions);
        if (MaxNewTokens < 1) throw new InvalidOptionException(type, nameof(MaxNewTokens), "must be at least 1", MaxNewTokens);
        if (MaxSourceLength < 2) throw new InvalidOptionException(type, nameof(MaxSourceLength), "must be at least 2", MaxSourceLength);
        if (BatchSize < 1) throw new InvalidOptionException(type, nameof(BatchSize), "must be at least 1", BatchSize);
        if (Beam is { } beam)
        {
            beam.Validate();
            if (beam.NumReturnSequences != 1)
                throw new InvalidOptionException(nameof(BeamSearchOptions), nameof(BeamSearchOptions.NumReturnSequences), "must be 1 when translating (one target per source)", beam.NumReturnSequences);
        }
    }

    /// <summary>The settings in one line, for reports: <c>greedy, max 128 new tokens</c> or
    /// <c>beam search: 4 beams, length penalty 1, ...</c>.</summary>
    public string Describe()
    {
        string limit = $"max {MaxNewTokens} new tokens";
        if (Beam is not { } b) return $"greedy, {limit}";
        string stop = b.EarlyStopping switch { BeamStopping.Early => "true", BeamStopping.Never => "never", _ => "false" };
        return FormattableString.Invariant($"beam search: {b.NumBeams} beams, length penalty {b.LengthPenalty}, no-repeat n-gram size {b.NoRepeatNgramSize}, early stopping {stop}, {limit}");
    }
}

/// <summary>What <see cref="Seq2SeqRun.Run"/> wrote: the run folder, its best/ model folder, and the training.</summary>
public sealed record Seq2SeqRunResult(string Directory, string ModelDirectory, Seq2SeqTrainingResult Training, int TrainExamples,
    int ValidationExamples, bool FromScratch, long Parameters);

/// <summary>
/// A sequence-to-sequence fine-tuning run from a model folder to a run folder, in the layout the other fine-tunes
/// use: <c>RUN/best/</c> is a model folder (config.json, model.safetensors, tokenizer files) holding the epoch with the
/// lowest validation loss, <c>RUN/metrics.jsonl</c> has one line per epoch, and <c>RUN/seq2seq.json</c> records the
/// settings. <see cref="LoadedModel.Load"/> and <see cref="ModelFolder.LoadBart"/> read the run folder itself (it
/// resolves to best/). The folder is written only once training has finished, staged beside it and renamed into
/// place, so a failure never leaves a half-written run.
/// </summary>
public static class Seq2SeqRun
{
    /// <summary>The run's settings and outcome.</summary>
    public const string InfoFile = "seq2seq.json";
    /// <summary>One JSON object per epoch: epoch, train_loss, val_loss.</summary>
    public const string MetricsFile = "metrics.jsonl";

    /// <summary>
    /// Fine-tunes the encoder–decoder model in <paramref name="modelPath"/> (a model or run folder) on
    /// <paramref name="train"/>, keeping the epoch with the lowest loss on <paramref name="validation"/> (the last epoch
    /// without one), and writes the run to <paramref name="runDirectory"/>. With <paramref name="fromScratch"/> the
    /// folder's weights are not used: a model of the same config (architecture, vocabulary) is freshly initialised from
    /// <see cref="Seq2SeqTrainingOptions.Seed"/> (<see cref="Seq2SeqFineTuning.FromScratch"/>), and the tokenizer is the
    /// folder's, so the two runs differ only in initialisation. An existing non-empty run folder is replaced only with
    /// <paramref name="replace"/> and only if it is a run folder that does not hold the model being trained.
    /// </summary>
    /// <param name="modelPath">the model (or run) folder that gives the architecture, tokenizer and, unless from scratch, the weights</param>
    /// <param name="train">training pairs (targets required)</param>
    /// <param name="validation">validation pairs; null keeps the last epoch</param>
    /// <param name="options">the training settings</param>
    /// <param name="runDirectory">the run folder to write</param>
    /// <param name="fromScratch">re-initialise the weights instead of using the folder's</param>
    /// <param name="replace">replace an existing run folder there</param>
    /// <param name="onStart">told the model's parameter count before the first epoch</param>
    /// <param name="onEpoch">told each epoch's losses as it ends</param>
    /// <exception cref="InvalidInputException">The folders, examples or options are unusable; the message names which.</exception>
    public static Seq2SeqRunResult Run(string modelPath, IReadOnlyList<Seq2SeqExample> train, IReadOnlyList<Seq2SeqExample>? validation,
        Seq2SeqTrainingOptions options, string runDirectory, bool fromScratch = false, bool replace = false,
        Action<long>? onStart = null, Action<Seq2SeqEpoch>? onEpoch = null)
    {
        CheckRunDirectory(runDirectory, modelPath, replace);
        var (loaded, tokenizer) = ModelFolder.LoadBart(modelPath);
        var model = loaded;
        try
        {
            options.Validate(loaded.Config);
            if (fromScratch)
            {
                var config = loaded.Config;
                loaded.Dispose();
                model = null!;
                model = Seq2SeqFineTuning.FromScratch(options.Dropout is { } d ? config with { Dropout = d } : config, options.Seed);
            }
            else if (options.Dropout is { } d && d != model.Config.Dropout)
            {
                var rebuilt = Seq2SeqFineTuning.WithDropout(model, d);
                model.Dispose();
                model = rebuilt;
            }
            long parameters = model.ParameterCount();
            onStart?.Invoke(parameters);
            var result = Seq2SeqFineTuning.Train(model, tokenizer, train, validation, options, onEpoch);
            string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(runDirectory));
            WriteStaged(full, dir =>
            {
                ModelFolder.SaveModel(Path.Combine(dir, Checkpoints.BestFolder), model, tokenizer);
                var metrics = new StringBuilder();
                foreach (var e in result.Epochs)
                    metrics.Append(JsonSerializer.Serialize(new Dictionary<string, object?> { ["epoch"] = e.Epoch, ["train_loss"] = e.TrainLoss, ["val_loss"] = e.ValidationLoss, ["val_bleu"] = e.ValidationBleu })).Append('\n');
                AtomicFile.WriteAllText(Path.Combine(dir, MetricsFile), metrics.ToString());
                var info = new Dictionary<string, object?>
                {
                    ["task"] = "seq2seq", ["model"] = modelPath, ["from_scratch"] = fromScratch, ["epochs"] = options.Epochs,
                    ["batch_size"] = options.BatchSize, ["learning_rate"] = options.LearningRate, ["warmup_ratio"] = options.WarmupRatio,
                    ["max_grad_norm"] = options.MaxGradNorm, ["dropout"] = model.Config.Dropout, ["weight_decay"] = options.WeightDecay,
                    ["label_smoothing"] = options.LabelSmoothing, ["source_token_dropout"] = options.SourceTokenDropout, ["target_token_dropout"] = options.TargetTokenDropout, ["bpe_dropout"] = options.BpeDropout, ["max_source_length"] = options.MaxSourceLength,
                    ["max_target_length"] = options.MaxTargetLength, ["seed"] = options.Seed, ["train_examples"] = train.Count,
                    ["validation_examples"] = validation?.Count ?? 0, ["best_model_metric"] = options.BestModelMetric.ToString().ToLowerInvariant(),
                    ["best_epoch"] = result.BestEpoch, ["average_last_epochs"] = options.AverageLastEpochs,
                    ["average"] = result.Average is not { } a ? null : new Dictionary<string, object?>
                    {
                        ["first_epoch"] = a.FirstEpoch, ["last_epoch"] = a.LastEpoch, ["val_loss"] = a.ValidationLoss, ["val_bleu"] = a.ValidationBleu, ["kept"] = a.Kept,
                    },
                };
                AtomicFile.WriteAllText(Path.Combine(dir, InfoFile), JsonSerializer.Serialize(info, JsonFiles.Indented));
            });
            return new Seq2SeqRunResult(runDirectory, Path.Combine(runDirectory, Checkpoints.BestFolder), result, train.Count,
                validation?.Count ?? 0, fromScratch, parameters);
        }
        finally { model?.Dispose(); }
    }

    /// <summary>
    /// Holds out <paramref name="fraction"/> of <paramref name="examples"/> (at least one, leaving at least one) for
    /// validation, chosen by a shuffle seeded with <paramref name="seed"/>; both parts keep the file's order.
    /// </summary>
    /// <exception cref="InvalidInputException">The fraction is outside (0, 1) or there are fewer than two examples.</exception>
    public static (IReadOnlyList<Seq2SeqExample> Train, IReadOnlyList<Seq2SeqExample> Validation) Split(IReadOnlyList<Seq2SeqExample> examples,
        double fraction, long seed)
    {
        if (!(fraction > 0 && fraction < 1)) throw new InvalidInputException($"the validation fraction must be in (0, 1) (got {fraction})");
        if (examples.Count < 2) throw new InvalidInputException($"{examples.Count} example(s) cannot be split into training and validation sets");
        int held = Math.Clamp((int)Math.Round(examples.Count * fraction), 1, examples.Count - 1);
        var rng = new Random((int)seed);
        var chosen = Enumerable.Range(0, examples.Count).OrderBy(_ => rng.Next()).Take(held).ToHashSet();
        return (examples.Where((_, i) => !chosen.Contains(i)).ToList(), examples.Where((_, i) => chosen.Contains(i)).ToList());
    }

    static void CheckRunDirectory(string runDirectory, string modelPath, bool replace)
    {
        if (File.Exists(runDirectory)) throw new InvalidInputException($"{runDirectory}: is a file; give a folder for the run");
        if (!Directory.Exists(runDirectory) || !Directory.EnumerateFileSystemEntries(runDirectory).Any()) return;
        if (!replace) throw new InvalidInputException($"{runDirectory}: already exists; replace it explicitly or give a new folder");
        if (!FineTuner.IsRunFolder(runDirectory))
            throw new InvalidInputException($"{runDirectory}: is not a Ptm run folder; refusing to replace it");
        if (File.Exists(Path.Combine(runDirectory, RunFolder.RunFile)) || (Directory.Exists(modelPath) && FolderPaths.IsSameOrInside(modelPath, runDirectory)))
            throw new InvalidInputException($"{runDirectory}: holds the pre-trained model or a pre-training run; refusing to replace it");
    }

    // Fills a hidden sibling folder, then swaps it in: an old run is moved aside first and deleted last.
    static void WriteStaged(string full, Action<string> fill)
    {
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string stem = $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}";
        string temp = Path.Combine(parent, stem + ".tmp");
        try
        {
            Directory.CreateDirectory(temp);
            fill(temp);
        }
        catch
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, true); }
            catch (IOException) { }
            throw;
        }
        string? aside = null;
        if (Directory.Exists(full))
        {
            aside = Path.Combine(parent, stem + ".old");
            Directory.Move(full, aside);
        }
        Directory.Move(temp, full);
        if (aside is not null) Directory.Delete(aside, true);
    }
}
