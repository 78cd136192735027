using System.CommandLine;
using Ptm.FineTuning;
using Ptm.Training;

namespace Ptm.Cli.Commands;

/// <summary>`ptm finetune`: a pre-trained GPT or BERT, a fresh task head, the shared Trainer.</summary>
static class FinetuneCommand
{
    /// <summary>The papers' fine-tuning recipes. BERT (Devlin et al. 2018, §A.3): lr from {5e-5, 3e-5, 2e-5},
    /// batch 32, 3 epochs, warm-up 10%, weight decay 0.01. GPT-1 (Radford et al. 2018, §4.1): lr 6.25e-5, batch 32,
    /// 3 epochs, warm-up 0.2% of training, λ = 0.5, weight decay 0.01 (their L2 w = 0.01).</summary>
    sealed record Recipe(double LearningRate, int BatchSize, int Epochs, double WarmupRatio, double WeightDecay);

    static readonly Recipe Bert = new(3e-5, 32, 3, 0.1, 0.01);
    static readonly Recipe Gpt = new(6.25e-5, 32, 3, 0.002, 0.01);

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "pre-trained model folder, or a pre-training run folder", Required = true };
        var task = new Option<string>("--task") { Description = "classify | pair | similarity | choice | tag | span", Required = true };
        var train = new Option<string>("--train") { Description = "training examples (.csv, .tsv or .jsonl)", Required = true };
        var validation = new Option<string?>("--validation") { Description = "validation examples; if left out, --validation-split of --train is held out" };
        var split = new Option<double>("--validation-split") { Description = "fraction held out when --validation is not given", DefaultValueFactory = _ => 0.1 };
        var output = new Option<string>("--out") { Description = "run folder for checkpoints and metrics.jsonl", Required = true };
        var force = new Option<bool>("--force") { Description = "replace an existing run in --out" };
        var epochs = new Option<int?>("--epochs") { Description = "passes over the training set (default 3)" };
        var lr = new Option<double?>("--learning-rate") { Description = "peak learning rate (default: BERT 3e-5, GPT 6.25e-5; tiny models want more)" };
        var batch = new Option<int?>("--batch-size") { Description = "examples per step (default 32)" };
        var warmup = new Option<double?>("--warmup-ratio") { Description = "share of steps with linear warm-up (default: BERT 0.1, GPT 0.002)" };
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
        var threads = CommonOptions.Threads();
        var command = new Command("finetune", "Fine-tune a pre-trained GPT or BERT on a labelled task")
        {
            model, task, train, validation, split, output, force, epochs, lr, batch, warmup, decay, lmCoef, freeze, maxLength, seed,
            docStride, maxAnswer, nBest, lrSweep, patience, threads,
        };
        var columns = TaskFileOptions.AddTo(command);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            var t = FineTuneTasks.Parse(r.GetValue(task)!, "--task");
            string runDir = r.GetValue(output)!;
            if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            {
                if (!r.GetValue(force)) throw new InvalidInputException($"{runDir}: already exists; use --force to replace it");
                if (!File.Exists(Path.Combine(runDir, "metrics.jsonl")) && !Directory.Exists(Path.Combine(runDir, Checkpoints.Folder))
                    && !File.Exists(Path.Combine(runDir, LearningRateSweep.ResultFile)))
                    throw new InvalidInputException($"{runDir}: is not a Ptm run folder; refusing to delete it even with --force");
            }
            string family = ModelFolder.ModelType(Checkpoints.ResolveModelDirectory(r.GetValue(model)!));
            var recipe = family == "gpt2" ? Gpt : Bert;
            double coef = r.GetValue(lmCoef);
            if (coef < 0) throw new InvalidInputException($"--lm-coef must be >= 0 (got {coef})");
            long s = r.GetValue(seed);

            var cols = columns.Columns(r);
            var trainData = TaskFile.Read(r.GetValue(train)!, t, cols);
            TaskData valData;
            if (r.GetValue(validation) is { } v) valData = TaskFile.Read(v, t, cols);
            else (trainData, valData) = TaskFile.Split(trainData, r.GetValue(split), s);
            var labels = FineTuneTasks.HasLabelMap(t) ? LabelMap.FromTraining(trainData) : null;

            int batchSize = r.GetValue(batch) ?? recipe.BatchSize;
            int nEpochs = r.GetValue(epochs) ?? recipe.Epochs;
            if (batchSize < 1) throw new InvalidInputException($"--batch-size must be positive (got {batchSize})");
            if (nEpochs < 1) throw new InvalidInputException($"--epochs must be positive (got {nEpochs})");
            double warm = r.GetValue(warmup) ?? recipe.WarmupRatio;
            if (warm is < 0 or >= 1) throw new InvalidInputException($"--warmup-ratio must be in [0, 1) (got {warm})");
            int patienceEpochs = r.GetValue(patience);
            if (patienceEpochs < 0) throw new InvalidInputException($"--patience must be >= 0 (got {patienceEpochs})");
            var rates = r.GetValue(lrSweep) is { } sweepText ? LearningRateSweep.Parse(sweepText) : null;
            if (rates is not null && r.GetValue(lr) is not null) throw new InvalidInputException("give --learning-rate or --lr-sweep, not both");

            // One fine-tuning run: a fresh head (same seed, so runs differ only in the learning rate), the shared
            // Trainer, an evaluation and checkpoint per epoch, and the best epoch's model kept in DIR/best/.
            BestModelKeeper RunOne(double learningRate, string dir, bool warn)
            {
                var ft = FineTuneModel.FromPretrained(r.GetValue(model)!, t, labels, new HeadOptions(r.GetValue(maxLength), coef, s, r.GetValue(docStride), r.GetValue(maxAnswer), r.GetValue(nBest)));
                if (r.GetValue(freeze)) ft.FreezeEncoder();
                var trainSet = ft.Encode(trainData, requireLabels: true);
                var valSet = ft.Encode(valData, requireLabels: true);
                if (warn)
                {
                    TaskFileOptions.Warn(trainSet, ft.Task, ft.Info.MaxLength);
                    TaskFileOptions.Warn(valSet, ft.Task, ft.Info.MaxLength);
                }
                int stepsPerEpoch = (trainSet.Count + batchSize - 1) / batchSize;   // span QA: windows, not questions
                int maxSteps = stepsPerEpoch * nEpochs;
                var config = new TrainingConfig
                {
                    BatchSize = batchSize, BlockSize = ft.Info.MaxLength, MaxSteps = maxSteps,
                    LearningRate = learningRate, MinLr = 0,
                    WarmupSteps = (int)Math.Round(warm * maxSteps), WeightDecay = r.GetValue(decay) ?? recipe.WeightDecay,
                    Beta1 = 0.9, Beta2 = 0.999, GradClip = 1.0,
                    EvalInterval = stepsPerEpoch, EvalIters = int.MaxValue, CheckpointInterval = stepsPerEpoch,
                    LogInterval = Math.Max(1, stepsPerEpoch / 4), Seed = s,
                };
                config.Validate("fine-tuning options");

                if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
                Directory.CreateDirectory(dir);
                var objective = new FineTuneObjective(ft, trainSet, valSet, batchSize, s);
                var trainer = new Trainer(objective, config, dir);
                var keeper = new BestModelKeeper(dir, t, ft.Save, patienceEpochs);
                using var stop = new CancellationTokenSource();
                trainer.Evaluated += e =>
                {
                    keeper.Observe(e);
                    if (keeper.ShouldStop && !stop.IsCancellationRequested)
                    {
                        Console.WriteLine($"early stop: validation {keeper.Metric} has not improved for {patienceEpochs} epoch(s) (best {keeper.Best:F4} at step {keeper.BestStep})");
                        stop.Cancel();
                    }
                };
                long trainable = ft.Module.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
                long all = ft.Module.parameters().Sum(p => p.numel());
                Console.WriteLine($"run       {dir}");
                Console.WriteLine($"model     {ft.Info.Head} from {r.GetValue(model)}: {all:N0} parameters, {trainable:N0} trained{(r.GetValue(freeze) ? " (encoder frozen)" : "")}");
                Console.WriteLine($"task      {FineTuneTasks.Name(t)}{(labels is null ? "" : $", {labels.Count} labels")}: {trainData.Count} train, {valData.Count} validation examples{(t == FineTuneTask.Span ? $" ({trainSet.Count} + {valSet.Count} windows, stride {ft.Info.DocStride})" : "")}, max length {ft.Info.MaxLength}{(ft.IsGpt ? $", lm_coef {ft.LmCoef}" : "")}");
                Console.WriteLine($"training  {nEpochs} epochs = {maxSteps} steps of {batchSize}, lr {config.LearningRate} (warm-up {config.WarmupSteps} steps), weight decay {config.WeightDecay}");
                var result = TrainingDisplay.Run(trainer, maxSteps, stop.Token);
                LossPlot.TryWrite(trainer.MetricsPath!, Path.Combine(dir, "loss.png"));
                if (result.LastEval is { } e)
                    Console.WriteLine($"validation {string.Join("  ", e.Metrics.Select(kv => $"{kv.Key} {kv.Value:F4}"))}");
                Console.WriteLine($"last      model saved in {result.Checkpoint}");
                Console.WriteLine($"best      validation {keeper.Metric} {keeper.Best:F4} at step {keeper.BestStep}, kept in {keeper.Directory} (--model {dir} uses it)");
                return keeper;
            }

            if (rates is null)
            {
                RunOne(r.GetValue(lr) ?? recipe.LearningRate, runDir, warn: true);
                return 0;
            }
            // BERT's practice (Devlin et al. 2018, §A.3): fine-tune once per learning rate, keep the best on validation.
            if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
            Directory.CreateDirectory(runDir);
            var outcomes = new List<(double Rate, BestModelKeeper Keeper)>();
            foreach (double rate in rates)
                outcomes.Add((rate, RunOne(rate, Path.Combine(runDir, LearningRateSweep.Folder(rate)), warn: outcomes.Count == 0)));
            var (bestRate, bestKeeper) = LearningRateSweep.Pick(outcomes);
            LearningRateSweep.Promote(runDir, bestRate, bestKeeper, outcomes);
            Console.WriteLine($"sweep     {string.Join("  ", outcomes.Select(o => $"lr {o.Rate}: {o.Keeper.Metric} {o.Keeper.Best:F4}"))}");
            Console.WriteLine($"best      lr {bestRate}: its best model copied to {Path.Combine(runDir, BestModelKeeper.Folder)} (--model {runDir} uses it)");
            return 0;
        }));
        return command;
    }
}
