using System.CommandLine;
using Ptm.FineTuning;
using Ptm.Training;

namespace Ptm.Cli.Commands;

/// <summary>`ptm finetune`: a pre-trained GPT or BERT, a fresh task head, the shared Trainer.</summary>
static class FinetuneCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "pre-trained model folder, or a pre-training run folder", Required = true };
        var task = new Option<string>("--task") { Description = "classify | pair | similarity | choice | tag | span | seq2seq", Required = true };
        var train = new Option<string>("--train") { Description = "training examples (.csv, .tsv or .jsonl)", Required = true };
        var validation = new Option<string?>("--validation") { Description = "validation examples; if left out, --validation-split of --train is held out" };
        var split = new Option<double>("--validation-split") { Description = "fraction held out when --validation is not given", DefaultValueFactory = _ => 0.1 };
        var output = new Option<string>("--out") { Description = "run folder for checkpoints and metrics.jsonl", Required = true };
        var force = new Option<bool>("--force") { Description = "replace an existing run in --out" };
        var epochs = new Option<int?>("--epochs") { Description = "passes over the training set (default 3)" };
        var lr = new Option<double?>("--learning-rate") { Description = "peak learning rate (default: BERT 3e-5, GPT 6.25e-5, seq2seq 3e-5; tiny models want more)" };
        lr.Aliases.Add("--lr");
        var batch = new Option<int?>("--batch-size") { Description = "examples per step (default 32)" };
        var warmup = new Option<double?>("--warmup-ratio") { Description = "share of steps with linear warm-up (default: BERT 0.1, GPT 0.002, seq2seq 0.1)" };
        var decay = new Option<double?>("--weight-decay") { Description = "AdamW weight decay on matrices (default 0.01)" };
        var lmCoef = new Option<double>("--lm-coef") { Description = "GPT only: weight λ of the auxiliary LM loss (0 turns it off)", DefaultValueFactory = _ => 0.5 };
        var freeze = new Option<bool>("--freeze-encoder") { Description = "train only the head; the pre-trained weights stay fixed" };
        var maxLength = new Option<int?>("--max-length") { Description = "tokens per sequence (default: the model's context); longer texts are truncated with a warning" };
        var seed = new Option<long>("--seed") { Description = "seed of the head's initialisation, the shuffling and the validation split", DefaultValueFactory = _ => 1337 };
        var docStride = new Option<int?>("--doc-stride") { Description = "span: tokens between the starts of a long context's windows (default: a third of --max-length, as BERT's 128 of 384)" };
        var maxAnswer = new Option<int>("--max-answer-length") { Description = "span: longest answer considered, in tokens", DefaultValueFactory = _ => 30 };
        var lrSweep = new Option<string?>("--lr-sweep") { Description = "comma-separated learning rates (e.g. 5e-5,3e-5,2e-5): one run each in RUN/lr-X/, the best on validation copied to RUN/best/" };
        var patience = new Option<int>("--patience") { Description = "stop after this many epochs without a better validation metric (0: never stop early); the best epoch is kept in RUN/best/ either way" };
        var nBest = new Option<int>("--n-best") { Description = "span: start/end candidates per window and answers kept", DefaultValueFactory = _ => 20 };
        var labelSmoothing = new Option<double?>("--label-smoothing") { Description = "seq2seq: label smoothing ε of the cross-entropy (default 0; BART uses 0.1)" };
        var maxSource = new Option<int?>("--max-source-length") { Description = "seq2seq: longest source in tokens (default: max_position_embeddings); longer ones are cut" };
        var maxTarget = new Option<int?>("--max-target-length") { Description = "seq2seq: longest target in tokens (default: max_position_embeddings); longer ones are cut" };
        var dropout = new Option<double?>("--dropout") { Description = "seq2seq: the model's dropout while fine-tuning (default: its config's), saved in the run's config.json" };
        var bestMetric = new Option<string?>("--metric-for-best-model") { Description = "seq2seq: loss (lowest validation loss, the default) or bleu (highest validation BLEU of greedy translations) picks the kept epoch" };
        var average = new Option<int?>("--average-last-epochs") { Description = "seq2seq: also score the mean of the last N epochs' weights on validation and keep it when it is at least as good (default 1: off)" };
        var srcDrop = new Option<double?>("--source-token-dropout") { Description = "seq2seq: share of source tokens replaced by <mask> in each training batch (default 0)" };
        var trgDrop = new Option<double?>("--target-token-dropout") { Description = "seq2seq: share of the decoder's input tokens replaced by <mask> in each training batch (default 0)" };
        var bpeDrop = new Option<double?>("--bpe-dropout") { Description = "seq2seq: BPE-dropout rate of the training pairs, tokenised afresh every epoch (default 0; Provilkov et al. use 0.1)" };
        var fromScratch = new Option<bool>("--from-scratch") { Description = "seq2seq: re-initialise the model's weights (same config and tokenizer) instead of using the pre-trained ones" };
        var threads = CommonOptions.Threads();
        var command = new Command("finetune", "Fine-tune a pre-trained GPT, BERT or encoder-decoder on a labelled task")
        {
            model, task, train, validation, split, output, force, epochs, lr, batch, warmup, decay, lmCoef, freeze, maxLength, seed,
            docStride, maxAnswer, nBest, lrSweep, patience, labelSmoothing, maxSource, maxTarget, dropout, bestMetric, average, srcDrop, trgDrop, bpeDrop, fromScratch, threads,
        };
        var columns = TaskFileOptions.AddTo(command);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            if (r.GetValue(task) == "seq2seq")
            {
                if (r.GetValue(lrSweep) is not null || r.GetValue(freeze) || r.GetValue(maxLength) is not null || r.GetValue(patience) != 0)
                    throw new InvalidInputException("--lr-sweep, --freeze-encoder, --max-length and --patience do not apply to --task seq2seq (the best epoch by validation loss or BLEU is kept)");
                var defaults = new Seq2SeqTrainingOptions();
                var s2s = new Seq2SeqTrainingOptions
                {
                    Epochs = r.GetValue(epochs) ?? defaults.Epochs, BatchSize = r.GetValue(batch) ?? defaults.BatchSize,
                    LearningRate = r.GetValue(lr) ?? defaults.LearningRate, WarmupRatio = r.GetValue(warmup) ?? defaults.WarmupRatio, WeightDecay = r.GetValue(decay) ?? defaults.WeightDecay,
                    LabelSmoothing = r.GetValue(labelSmoothing) ?? defaults.LabelSmoothing, MaxSourceLength = r.GetValue(maxSource),
                    MaxTargetLength = r.GetValue(maxTarget), Dropout = r.GetValue(dropout), Seed = r.GetValue(seed),
                    BestModelMetric = r.GetValue(bestMetric) switch
                    {
                        null or "loss" => Seq2SeqBestModelMetric.Loss,
                        "bleu" => Seq2SeqBestModelMetric.Bleu,
                        var other => throw new InvalidInputException($"--metric-for-best-model: expected loss or bleu, got '{other}'"),
                    },
                    AverageLastEpochs = r.GetValue(average) ?? defaults.AverageLastEpochs,
                    SourceTokenDropout = r.GetValue(srcDrop) ?? defaults.SourceTokenDropout, TargetTokenDropout = r.GetValue(trgDrop) ?? defaults.TargetTokenDropout,
                    BpeDropout = r.GetValue(bpeDrop) ?? defaults.BpeDropout,
                };
                return Seq2SeqCommands.Finetune(r.GetValue(model)!, r.GetValue(train)!, r.GetValue(validation), r.GetValue(split), r.GetValue(output)!,
                    r.GetValue(force), s2s, r.GetValue(fromScratch));
            }
            if (r.GetValue(labelSmoothing) is not null || r.GetValue(maxSource) is not null || r.GetValue(maxTarget) is not null || r.GetValue(dropout) is not null
                || r.GetValue(bestMetric) is not null || r.GetValue(average) is not null || r.GetValue(srcDrop) is not null || r.GetValue(trgDrop) is not null || r.GetValue(bpeDrop) is not null || r.GetValue(fromScratch))
                throw new InvalidInputException("--label-smoothing, --max-source-length, --max-target-length, --dropout, --metric-for-best-model, --average-last-epochs, --source-token-dropout, --target-token-dropout, --bpe-dropout and --from-scratch apply to --task seq2seq only");
            var t = FineTuneTasks.Parse(r.GetValue(task)!, "--task");
            string runDir = r.GetValue(output)!;
            if (File.Exists(runDir)) throw new InvalidInputException($"--out {runDir}: is a file; give a folder for the run");
            if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            {
                if (!r.GetValue(force)) throw new InvalidInputException($"{runDir}: already exists; use --force to replace it");
                if (!FineTuner.IsRunFolder(runDir))
                    throw new InvalidInputException($"{runDir}: is not a Ptm run folder; refusing to delete it even with --force");
            }
            string modelPath = r.GetValue(model)!;
            var rates = r.GetValue(lrSweep) is { } sweepText ? LearningRateSweep.Parse(sweepText) : null;
            if (rates is not null && r.GetValue(lr) is not null) throw new InvalidInputException("give --learning-rate or --lr-sweep, not both");
            bool holdOut = r.GetValue(validation) is null;
            var options = new FineTuningOptions
            {
                Epochs = r.GetValue(epochs), LearningRate = r.GetValue(lr), LearningRates = rates, BatchSize = r.GetValue(batch),
                WarmupRatio = r.GetValue(warmup), WeightDecay = r.GetValue(decay), LmCoef = r.GetValue(lmCoef), FreezeEncoder = r.GetValue(freeze),
                MaxLength = r.GetValue(maxLength), Seed = r.GetValue(seed), DocStride = r.GetValue(docStride), MaxAnswerLength = r.GetValue(maxAnswer),
                NBest = r.GetValue(nBest), Patience = r.GetValue(patience),
                ValidationSplit = holdOut ? r.GetValue(split) : new FineTuningOptions().ValidationSplit, // unused with --validation
            };
            // The options and the model folder are checked here, before any data is read (errors name the flags).
            var tuner = new FineTuner(modelPath, t, options) { TrainWith = (trainer, stop) => TrainingDisplay.Run(trainer, trainer.Config.MaxSteps, stop) };

            var cols = columns.Columns(r);
            var trainData = TaskFile.Read(r.GetValue(train)!, t, cols);
            TaskData? valData = holdOut ? null : TaskFile.Read(r.GetValue(validation)!, t, cols);
            if (valData is null) TaskFile.Split(trainData, options.ValidationSplit, options.Seed); // an error about the split comes before the model is read

            tuner.Warning += w => Console.Error.WriteLine(w);
            tuner.EarlyStopped += Console.WriteLine;
            tuner.RunStarting += run =>
            {
                var ft = run.Model;
                var config = run.Trainer.Config;
                long trainable = ft.Module.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
                long all = ft.Module.parameters().Sum(p => p.numel());
                Console.WriteLine($"run       {run.Directory}");
                Console.WriteLine($"model     {ft.Info.Head} from {modelPath}: {all:N0} parameters, {trainable:N0} trained{(options.FreezeEncoder ? " (encoder frozen)" : "")}");
                Console.WriteLine($"task      {FineTuneTasks.Name(t)}{(ft.Labels is null ? "" : $", {ft.Labels.Count} labels")}: {run.Train.Count} train, {run.Validation.Count} validation examples{(t == FineTuneTask.Span ? $" ({run.TrainSet.Count} + {run.ValidationSet.Count} windows, stride {ft.Info.DocStride})" : "")}, max length {ft.Info.MaxLength}{(ft.IsGpt ? $", lm_coef {ft.LmCoef}" : "")}");
                Console.WriteLine($"training  {run.Epochs} epochs = {config.MaxSteps} steps of {run.BatchSize}, lr {config.LearningRate} (warm-up {config.WarmupSteps} steps), weight decay {config.WeightDecay}");
            };
            tuner.RunFinished += end =>
            {
                LossPlot.TryWrite(end.Trainer.MetricsPath!, Path.Combine(end.Directory!, "loss.png"));
                if (end.Result.LastEval is { } e)
                    Console.WriteLine($"validation {string.Join("  ", e.Metrics.Select(kv => $"{kv.Key} {kv.Value:F4}"))}");
                Console.WriteLine($"last      model saved in {end.Result.Checkpoint}");
                Console.WriteLine($"best      validation {end.Best.Metric} {end.Best.Best:F4} at step {end.Best.BestStep}, kept in {end.Best.Directory} (--model {end.Directory} uses it)");
            };
            var result = tuner.Run(trainData, valData, runDir, replace: true);
            if (rates is not null)
            {
                Console.WriteLine($"sweep     {string.Join("  ", result.Sweep.Select(o => $"lr {o.LearningRate}: {result.Metric} {o.Best:F4}"))}");
                Console.WriteLine($"best      lr {result.LearningRate}: its best model copied to {result.BestDirectory} (--model {runDir} uses it)");
            }
            return 0;
        }));
        return command;
    }
}
