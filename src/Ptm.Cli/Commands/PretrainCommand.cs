using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.Data;
using Ptm.Generation;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;

namespace Ptm.Cli.Commands;

static class PretrainCommand
{
    public const string DefaultConfig = "configs/gpt-kjv.json";
    public const string DefaultData = "data/kjv";
    public const string RunFile = "run.json";
    static readonly string[] SamplePrompts = ["In the beginning", "And it came to pass", "The LORD is"];

    public static Command Create()
    {
        var command = new Command("pretrain", "Pre-train a model from scratch");
        command.Subcommands.Add(CreateGpt());
        return command;
    }

    static Command CreateGpt()
    {
        var config = new Option<string?>("--config") { Description = $"run config JSON (model/tokenizer/training sections; default {DefaultConfig})" };
        var data = new Option<string?>("--data") { Description = $"a prepared folder (manifest.json) or raw text to prepare (default {DefaultData})" };
        var output = new Option<string?>("--out") { Description = "run folder (default runs/gpt-<time>)" };
        var resume = new Option<bool>("--resume") { Description = "continue the run in --out from its latest checkpoint" };
        var force = new Option<bool>("--force") { Description = "replace an existing run in --out" };
        var maxSteps = new Option<int?>("--max-steps") { Description = "override training.max_steps" };
        var batchSize = new Option<int?>("--batch-size") { Description = "override training.batch_size" };
        var lr = new Option<double?>("--learning-rate") { Description = "override training.learning_rate" };
        var seed = new Option<long?>("--seed") { Description = "override training.seed" };
        var set = new Option<string[]>("--set") { Description = "override any field: section.field=value (repeatable), e.g. --set model.n_layer=2" };
        var samples = new Option<int>("--samples") { Description = "sample continuations printed at the end", DefaultValueFactory = _ => 3 };
        var threads = CommonOptions.Threads();
        var command = new Command("gpt", "Causal language-model pre-training of a GPT on raw text")
        {
            config, data, output, resume, force, maxSteps, batchSize, lr, seed, set, samples, threads,
        };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            var overrides = new List<string>(r.GetValue(set) ?? []);
            if (r.GetValue(maxSteps) is int ms) overrides.Add($"training.max_steps={ms}");
            if (r.GetValue(batchSize) is int bs) overrides.Add($"training.batch_size={bs}");
            if (r.GetValue(lr) is double l) overrides.Add($"training.learning_rate={l.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            if (r.GetValue(seed) is long s) overrides.Add($"training.seed={s}");
            var request = new PretrainRequest(r.GetValue(config), r.GetValue(data), r.GetValue(output), r.GetValue(resume), r.GetValue(force), overrides, r.GetValue(samples), r.GetValue(threads));
            return Run(request);
        }));
        return command;
    }

    public sealed record PretrainRequest(string? Config, string? Data, string? Out, bool Resume, bool Force, IReadOnlyList<string> Overrides, int Samples, int Threads);

    public static int Run(PretrainRequest request)
    {
        CommonOptions.ApplyThreads(request.Threads);
        string runDir = request.Out ?? Path.Combine("runs", $"gpt-{DateTime.Now:yyyyMMdd-HHmmss}");
        if (request.Resume && request.Force) throw new InvalidInputException("--resume and --force contradict each other: choose one");
        if (request.Resume && request.Out is null) throw new InvalidInputException("--resume needs --out naming the run folder to continue");
        var (runConfig, dataDir, resumeFrom) = request.Resume ? OpenForResume(runDir, request.Overrides) : CreateRun(runDir, request);
        var cfg = runConfig.Training;
        if (cfg.Threads > 0) TorchSharp.torch.set_num_threads(cfg.Threads);

        using var data = new PreparedTrainingData(dataDir, cfg.BatchSize, cfg.BlockSize, cfg.Seed);
        var tokenizer = TokenizerFiles.Load(dataDir);
        TorchSharp.torch.manual_seed(cfg.Seed);
        var model = new Gpt(runConfig.Model);
        var trainer = new Trainer(new CausalLmObjective(model, tokenizer, data), cfg, runDir);
        if (resumeFrom is not null) trainer.Resume(resumeFrom);

        Console.WriteLine($"run       {runDir}");
        Console.WriteLine($"data      {dataDir} ({data.Manifest.Splits[Preparer.TrainSplit].Tokens:N0} train tokens, {tokenizer.Kind} vocabulary of {tokenizer.VocabSize})");
        Console.WriteLine($"model     GPT, {runConfig.Model.NLayer} layers, {runConfig.Model.NHead} heads, n_embd {runConfig.Model.NEmbd}, context {runConfig.Model.NPositions}: {model.ParameterCount():N0} parameters");
        Console.WriteLine($"training  {cfg.MaxSteps} steps of {cfg.BatchSize * cfg.GradientAccumulationSteps} x {cfg.BlockSize} tokens, lr {cfg.LearningRate} -> {cfg.MinLr}, {TorchSharp.torch.get_num_threads()} threads{(resumeFrom is null ? "" : $", resuming at step {trainer.Step}")}");

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
            result = TrainingDisplay.Run(trainer, cfg.MaxSteps, cancel.Token);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            LossPlot.TryWrite(trainer.MetricsPath, Path.Combine(runDir, "loss.png"));
        }

        if (result.Outcome == TrainingOutcome.Interrupted)
        {
            Console.WriteLine($"interrupted at step {result.Step}; saved {result.Checkpoint}. Continue with: ptm pretrain gpt --out {runDir} --resume");
            return 130;
        }
        if (result.LastEval is { } eval)
            Console.WriteLine($"validation loss {eval.Loss:F4}, perplexity {eval.Metrics["ppl"]:F2}, bits per byte {eval.Metrics["bpb"]:F4}");
        Console.WriteLine($"model saved in {result.Checkpoint} (use --model {runDir})");
        PrintSamples(model, tokenizer, request.Samples, cfg.Seed);
        return 0;
    }

    static (GptRunConfig Config, string DataDir, string? ResumeFrom) CreateRun(string runDir, PretrainRequest request)
    {
        if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
        {
            if (!request.Force)
                throw new InvalidInputException($"{runDir}: already exists; use --resume to continue it or --force to replace it");
            if (!File.Exists(Path.Combine(runDir, RunFile)))
                throw new InvalidInputException($"{runDir}: is not a Ptm run folder (no {RunFile}); refusing to delete it even with --force");
        }
        string configPath = request.Config ?? CommonOptions.Shipped(DefaultConfig);
        var node = RunConfigFile.ReadNode(configPath);
        GptRunConfig.ApplyOverrides(node, request.Overrides);
        GptRunConfig.FromNode(node.DeepClone().AsObject(), configPath); // validate everything before any slow work

        string dataSpec = request.Data ?? CommonOptions.Shipped(DefaultData);
        bool prepared = Directory.Exists(dataSpec) && File.Exists(Path.Combine(dataSpec, DataManifest.FileName));
        string stagingDir = runDir + ".preparing";
        if (!prepared)
        {
            var spec = GptRunConfig.FromNode(node.DeepClone().AsObject(), configPath).Tokenizer;
            var clock = Stopwatch.StartNew();
            Console.WriteLine($"preparing {dataSpec} with a {spec.Kind} tokenizer{(spec.Kind == "bpe" ? $" of {spec.VocabSize} tokens" : "")}...");
            var corpusOptions = CorpusTokenizer.Options(dataSpec, null, 0.1, 0);
            var result = PrepareCommand.Run(corpusOptions, spec.Kind, spec.VocabSize, new PrepareOptions(stagingDir, Force: true));
            PrepareCommand.Print(result, clock.Elapsed);
        }
        string sourceData = prepared ? dataSpec : stagingDir;
        var tokenizer = TokenizerFiles.Load(sourceData);
        var config = GptRunConfig.FromNode(node, configPath, tokenizer.VocabSize);

        // Only now, with the config valid and the data ready, is the old run replaced.
        if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
        Directory.CreateDirectory(runDir);
        string dataDir = prepared ? Path.GetFullPath(dataSpec) : Path.Combine(runDir, "data");
        if (!prepared) Directory.Move(stagingDir, dataDir);
        var record = config.ToNode();
        record["data"] = prepared ? dataDir : "data";
        AtomicFile.WriteAllText(Path.Combine(runDir, RunFile), record.ToJsonString(JsonFiles.Indented));
        return (config, dataDir, null);
    }

    static (GptRunConfig Config, string DataDir, string? ResumeFrom) OpenForResume(string runDir, IReadOnlyList<string> overrides)
    {
        string runFile = Path.Combine(runDir, RunFile);
        if (!File.Exists(runFile)) throw new InvalidInputException($"{runDir}: no {RunFile}; nothing to resume");
        var node = RunConfigFile.ReadNode(runFile);
        string dataField = node["data"]?.GetValue<string>() ?? throw new InvalidInputException($"{runFile}: missing field 'data'");
        node.Remove("data");
        GptRunConfig.ApplyOverrides(node, overrides);
        var config = GptRunConfig.FromNode(node, runFile);
        string dataDir = Path.IsPathRooted(dataField) ? dataField : Path.Combine(runDir, dataField);
        string checkpoint = Checkpoints.Latest(runDir) ?? throw new InvalidInputException($"{runDir}: has no checkpoint to resume from");
        var saved = GptConfig.Load(Path.Combine(checkpoint, ModelFolder.ConfigFile));
        if (saved != config.Model with { Architectures = saved.Architectures })
            throw new InvalidInputException($"{runFile}: the model section differs from the checkpoint's config.json; model settings cannot change on resume");
        var updated = config.ToNode();
        updated["data"] = dataField;
        AtomicFile.WriteAllText(runFile, updated.ToJsonString(JsonFiles.Indented));
        return (config, dataDir, checkpoint);
    }

    static void PrintSamples(Gpt model, ITokenizer tokenizer, int count, long seed)
    {
        if (count <= 0) return;
        model.eval();
        var generator = new TextGenerator(model, tokenizer);
        var options = new GenerationOptions { MaxNewTokens = 60, Temperature = 0.8, TopK = 40, Seed = seed, Stop = ["\n\n"] };
        Console.WriteLine();
        Console.WriteLine("samples (temperature 0.8, top-k 40):");
        foreach (string prompt in SamplePrompts.Take(count))
        {
            try
            {
                Console.WriteLine($"> {prompt}{string.Concat(generator.Generate(prompt, options))}");
            }
            catch (InvalidInputException)
            {
                Console.WriteLine($"> (prompt \"{prompt}\" is not encodable with this vocabulary)");
            }
        }
    }
}
