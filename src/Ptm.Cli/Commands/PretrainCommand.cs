using System.CommandLine;
using System.Globalization;
using Ptm.Cli.Commands.Pretraining;
using Ptm.Distributed;
using Ptm.Training;

namespace Ptm.Cli.Commands;

/// <summary>`ptm pretrain gpt|bert`: the run folder, resume and interruption logic shared by both families.</summary>
static class PretrainCommand
{
    public const string DefaultData = "data/kjv";
    public const string RunFile = RunFolder.RunFile;

    public static Command Create()
    {
        var command = new Command("pretrain", "Pre-train a model from scratch");
        command.Subcommands.Add(CreateFor(new GptFamily(), "Causal language-model pre-training of a GPT on raw text"));
        command.Subcommands.Add(CreateFor(new BertFamily(), "Masked-LM (+ next-sentence or sentence-order) pre-training of a BERT on raw text"));
        command.Subcommands.Add(CreateFor(new ElectraFamily(), "ELECTRA pre-training: a small MLM generator and a BERT discriminator trained on replaced-token detection"));
        command.Subcommands.Add(CreateFor(new ElmoFamily(), "ELMo pre-training: forward and backward LSTM language models over character-CNN word representations"));
        command.Subcommands.Add(CreateFor(new Seq2SeqFamily(), "BART denoising pre-training of an encoder-decoder: text infilling (and sentence permutation) reconstructed by the decoder"));
        command.Subcommands.Add(StaticVectorsCommand.CreateWord2Vec());
        command.Subcommands.Add(StaticVectorsCommand.CreateGlove());
        return command;
    }

    static Command CreateFor(IPretrainFamily family, string description)
    {
        var config = new Option<string?>("--config") { Description = $"run config JSON (default {family.DefaultConfig})" };
        var data = new Option<string?>("--data") { Description = $"a prepared folder (manifest.json), raw text to prepare, or a task file (.csv, .tsv, .jsonl) whose --columns become separate blocks of text (default {DefaultData})" };
        var validationData = new Option<string?>("--validation-data") { Description = "separate validation text: a file, folder or glob of text, or with a task file as --data, a task file with the same columns (default: hold out part of --data)" };
        var columns = new Option<string?>("--columns") { Description = "with a task file as --data: its comma-separated text columns, each its own block, never aligned (default source,target)" };
        var output = new Option<string?>("--out") { Description = $"run folder (default runs/{family.Name}-<time>)" };
        var resume = new Option<bool>("--resume") { Description = "continue the run in --out from its latest checkpoint" };
        var useIntact = new Option<bool>("--use-intact") { Description = "with --resume: if the latest checkpoint fails its checksums, resume from the newest intact one" };
        var force = new Option<bool>("--force") { Description = "replace an existing run in --out" };
        var maxSteps = new Option<int?>("--max-steps") { Description = "override training.max_steps" };
        var batchSize = new Option<int?>("--batch-size") { Description = "override training.batch_size" };
        var lr = new Option<double?>("--learning-rate") { Description = "override training.learning_rate" };
        var seed = new Option<long?>("--seed") { Description = "override training.seed" };
        var set = new Option<string[]>("--set") { Description = "override any field: section.field=value (repeatable), e.g. --set model.n_layer=2" };
        var samples = new Option<int>("--samples") { Description = "examples printed at the end", DefaultValueFactory = _ => 3 };
        var threads = CommonOptions.Threads();
        var distributed = new Option<bool>("--distributed") { Description = "train data-parallel on the ranks mpirun started (Open MPI); rank 0 writes the run folder" };
        var command = new Command(family.Name, description) { config, data, validationData, columns, output, resume, useIntact, force, maxSteps, batchSize, lr, seed, set, samples, threads, distributed };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            var overrides = new List<string>(r.GetValue(set) ?? []);
            if (r.GetValue(maxSteps) is int ms) overrides.Add($"training.max_steps={ms}");
            if (r.GetValue(batchSize) is int bs) overrides.Add($"training.batch_size={bs}");
            if (r.GetValue(lr) is double l) overrides.Add($"training.learning_rate={l.ToString(CultureInfo.InvariantCulture)}");
            if (r.GetValue(seed) is long s) overrides.Add($"training.seed={s}");
            var request = new PretrainRequest(r.GetValue(config), r.GetValue(data), r.GetValue(validationData), r.GetValue(columns), r.GetValue(output), r.GetValue(resume), r.GetValue(force), overrides, r.GetValue(samples), r.GetValue(threads), r.GetValue(useIntact));
            if (!r.GetValue(distributed)) return Run(family, request, null);
            if (request.Out is null) throw new InvalidInputException("--distributed needs --out: every rank must name the same run folder");
            using var group = MpiProcessGroup.Start();
            return RunRank(family, request, group);
        }));
        return command;
    }

    sealed record PretrainRequest(string? Config, string? Data, string? ValidationData, string? Columns, string? Out, bool Resume, bool Force, IReadOnlyList<string> Overrides, int Samples, int Threads, bool UseIntact = false);

    /// <summary>One rank of a data-parallel run: rank 0 prints as a single process would, the others print only errors.
    /// Any failure on any rank ends every rank (MPI_Abort), since the others may be waiting for it in a collective.</summary>
    static int RunRank(IPretrainFamily family, PretrainRequest request, IProcessGroup group)
    {
        var stdout = Console.Out;
        if (group.Rank != 0) Console.SetOut(TextWriter.Null);
        try
        {
            return Run(family, request, group);
        }
        catch (Exception e) when (group.Size > 1)
        {
            Console.Error.WriteLine($"error: rank {group.Rank}: {CommandErrors.Message(e)}");
            group.Abort(1);
            throw;
        }
        finally
        {
            Console.SetOut(stdout);
        }
    }

    static int Run(IPretrainFamily family, PretrainRequest request, IProcessGroup? group)
    {
        CommonOptions.ApplyThreads(request.Threads);
        if (request.Resume && request.Force) throw new InvalidInputException("--resume and --force contradict each other: choose one");
        if (request.Resume && request.Out is null) throw new InvalidInputException("--resume needs --out naming the run folder to continue");
        string runDir = request.Out ?? Path.Combine("runs", $"{family.Name}-{DateTime.Now:yyyyMMdd-HHmmss}");
        if (request.UseIntact && !request.Resume) throw new InvalidInputException("--use-intact applies to --resume only");
        using var run = request.Resume ? Resume(family, runDir, request.Overrides, request.UseIntact, group) : Start(family, runDir, request, group);
        var trainer = run.Trainer;
        if (trainer.Step >= trainer.Config.MaxSteps)
        {
            Console.WriteLine($"run {runDir} already finished at step {trainer.Step} (training.max_steps {trainer.Config.MaxSteps}); "
                + $"model in {run.ResumedFrom} (use --model {runDir}). To train further, resume with a larger --max-steps");
            return 0;
        }
        if (group is not null) Console.WriteLine($"ranks     {group.Size} (data-parallel: {group.Size} x {trainer.Config.BatchSize * trainer.Config.GradientAccumulationSteps} sequences per step)");
        foreach (string warning in run.Warnings) Console.Error.WriteLine($"warning: {warning}");

        Console.WriteLine($"run       {runDir}");
        foreach (var line in run.Describe()) Console.WriteLine(line);
        Console.WriteLine($"          {TorchSharp.torch.get_num_threads()} threads{(run.ResumedFrom is null ? "" : $", resuming at step {trainer.Step}")}");

        using var cancel = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // finish the current step, save, exit cleanly
            cancel.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        TrainingResult result;
        try
        {
            result = TrainingDisplay.Run(trainer, trainer.Config.MaxSteps, cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            if (trainer.MetricsPath is { } metrics) LossPlot.TryWrite(metrics, Path.Combine(runDir, "loss.png"));
        }
        if (result.Outcome == TrainingOutcome.Interrupted)
        {
            string again = group is null ? $"ptm pretrain {family.Name}" : $"mpirun -np {group.Size} ptm pretrain {family.Name} --distributed";
            Console.WriteLine($"interrupted at step {result.Step}; saved {result.Checkpoint}. Continue with: {again} --out {runDir} --resume");
            return 130;
        }
        if (!trainer.IsRoot) return 0;
        family.Report(run, result.LastEval, request.Samples);
        Console.WriteLine($"model saved in {result.Checkpoint ?? Checkpoints.Latest(runDir)} (use --model {runDir})");
        return 0;
    }

    static PretrainingRun Start(IPretrainFamily family, string runDir, PretrainRequest request, IProcessGroup? group)
    {
        if (File.Exists(runDir)) throw new InvalidInputException($"--out {runDir}: is a file; give a folder for the run");
        // Only rank 0 looks at the folder: the others start when it has (re)created it.
        if ((group is null || group.Rank == 0) && Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
        {
            if (!request.Force)
                throw new InvalidInputException($"{runDir}: already exists; use --resume to continue it or --force to replace it");
            if (!File.Exists(Path.Combine(runDir, RunFolder.RunFile)))
                throw new InvalidInputException($"{runDir}: is not a Ptm run folder (no {RunFolder.RunFile}); refusing to delete it even with --force");
        }
        string configPath = request.Config ?? CommonOptions.Shipped(family.DefaultConfig);
        var node = RunConfigFile.ReadNode(configPath);
        family.ApplyOverrides(node, request.Overrides);
        BlameOverrides(() => family.Validate(node, configPath), configPath, request.Overrides); // everything checked before any slow work
        var corpus = Corpus(request);
        return family.Start(node, configPath, corpus, new RunFolder(runDir, RunFolderMode.Replace), Console.WriteLine, group);
    }

    /// <summary>--data as the library reads it: a task file (by its extension) gives its columns as separate blocks,
    /// anything else is text or a prepared folder.</summary>
    static PretrainingCorpus Corpus(PretrainRequest request)
    {
        string data = request.Data ?? CommonOptions.Shipped(DefaultData);
        bool taskFile = File.Exists(data) && Ptm.FineTuning.TaskFile.HasTaskExtension(data);
        if (!taskFile)
        {
            if (request.Columns is not null) throw new InvalidInputException($"--columns applies to a task file (.csv, .tsv or .jsonl) as --data, not to {data}");
            return PretrainingCorpus.FromPath(data, request.ValidationData);
        }
        string[]? columns = request.Columns?.Split(',', StringSplitOptions.TrimEntries);
        if (columns is not null && (columns.Any(c => c.Length == 0) || columns.Distinct().Count() != columns.Length))
            throw new InvalidInputException($"--columns must name one or more distinct columns, separated by commas (got \"{request.Columns}\")");
        return PretrainingCorpus.FromTaskFile(data, request.ValidationData, columns);
    }

    static PretrainingRun Resume(IPretrainFamily family, string runDir, IReadOnlyList<string> overrides, bool useIntact, IProcessGroup? group)
    {
        var node = Ptm.Training.Pretraining.ReadRunConfig(runDir);
        family.ApplyOverrides(node, overrides);
        string runFile = Path.Combine(runDir, RunFolder.RunFile);
        BlameOverrides(() => family.Validate(node, runFile), runFile, overrides);
        if (useIntact && (group is null || group.Rank == 0)) // the other ranks read the folder once rank 0 has resumed
        {
            string? named = null;
            try { named = Checkpoints.Latest(runDir); } catch (InvalidInputException) { }
            string? taken = Checkpoints.RollBackToNewestIntact(runDir);
            if (taken is not null && taken != named)
                Console.Error.WriteLine($"warning: the latest checkpoint {named ?? "(missing)"} is damaged; resuming from {Path.GetFileName(taken)}");
        }
        return family.Resume(node, runFile, runDir, group);
    }

    /// <summary>Runs a config check; an error about a section.field that an override set is blamed on that override,
    /// not on the file it was applied to.</summary>
    static void BlameOverrides(Action validate, string source, IReadOnlyList<string> overrides)
    {
        try { validate(); }
        catch (InvalidInputException e) when (overrides.Count > 0 && e.Message.StartsWith(source + ": ", StringComparison.Ordinal))
        {
            var m = System.Text.RegularExpressions.Regex.Match(e.Message[(source.Length + 2)..], @"^(\w+): (?:unknown )?field '([^']+)'");
            string? blamed = m.Success ? overrides.LastOrDefault(o => o.StartsWith($"{m.Groups[1].Value}.{m.Groups[2].Value}=", StringComparison.Ordinal)) : null;
            if (blamed is null) throw;
            throw new InvalidInputException($"override {blamed}: {e.Message[(source.Length + 2)..]}");
        }
    }
}
