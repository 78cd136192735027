using System.CommandLine;
using Ptm.HuggingFace;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Cli.Commands;

/// <summary>Hugging Face interchange: <c>convert</c> (HF folder → ours), <c>export</c> (ours → HF), <c>inspect</c>.</summary>
static class HfCommands
{
    public static Command CreateConvert()
    {
        var from = new Option<string>("--from") { Description = "Hugging Face model folder (config.json, model.safetensors or sharded index, tokenizer files)", Required = true };
        var to = new Option<string>("--to") { Description = "new Ptm model folder to create", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "float32 or bfloat16", DefaultValueFactory = _ => "float32" };
        var allowMissing = new Option<bool>("--allow-missing") { Description = "initialise tensors the checkpoint lacks (e.g. BERT heads of a BertModel) instead of failing" };
        var allowUnexpected = new Option<bool>("--allow-unexpected") { Description = "drop tensors the model has no place for (e.g. classifier.*) instead of failing" };
        var command = new Command("convert", "Convert a Hugging Face GPT-2 or BERT folder into a Ptm model folder") { from, to, dtype, allowMissing, allowUnexpected };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            var options = new HfLoadOptions
            {
                DType = r.GetValue(dtype) switch
                {
                    "float32" => ScalarType.Float32,
                    "bfloat16" => ScalarType.BFloat16,
                    var d => throw new InvalidInputException($"--dtype must be float32 or bfloat16 (got {d})"),
                },
                AllowMissing = r.GetValue(allowMissing),
                AllowUnexpected = r.GetValue(allowUnexpected),
            };
            var report = HfCheckpoint.Convert(r.GetValue(from)!, r.GetValue(to)!, options);
            Console.WriteLine($"architecture  {report.Architecture}");
            Console.WriteLine($"loaded        {report.Loaded} tensors as {r.GetValue(dtype)}");
            if (report.Tied.Count > 0) Console.WriteLine($"tied          {string.Join(", ", report.Tied)} (checked equal to the tensor they are tied to; not stored separately)");
            if (report.Ignored.Count > 0) Console.WriteLine($"ignored       {report.Ignored.Count} buffer(s)");
            if (report.Missing.Count > 0) Console.WriteLine($"initialised   {string.Join(", ", report.Missing)}");
            if (report.Unexpected.Count > 0) Console.WriteLine($"dropped       {string.Join(", ", report.Unexpected)}");
            Console.WriteLine($"wrote         {r.GetValue(to)}");
            return 0;
        }));
        return command;
    }

    public static Command CreateExport()
    {
        var model = new Option<string>("--model") { Description = "Ptm model folder, or a run folder (its latest checkpoint)", Required = true };
        var to = new Option<string>("--to") { Description = "new folder to create", Required = true };
        var format = new Option<string>("--format") { Description = "output layout; only \"hf\" (Hugging Face)", DefaultValueFactory = _ => "hf" };
        var generator = new Option<bool>("--generator") { Description = "ELECTRA: write the generator as a Ptm masked-LM BERT model folder (for fill-mask and evaluate) instead" };
        var command = new Command("export", "Export a Ptm model folder in Hugging Face layout") { model, to, format, generator };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            if (r.GetValue(generator))
            {
                Ptm.Training.Pretraining.ExportElectraGenerator(r.GetValue(model)!, r.GetValue(to)!);
                Console.WriteLine($"wrote {r.GetValue(to)} (ELECTRA generator as BertForPreTraining)");
                return 0;
            }
            if (r.GetValue(format) != "hf") throw new InvalidInputException($"--format must be hf (got {r.GetValue(format)})");
            string architecture = HfCheckpoint.ExportFolder(r.GetValue(model)!, r.GetValue(to)!);
            Console.WriteLine($"wrote {r.GetValue(to)} ({architecture})");
            return 0;
        }));
        return command;
    }

    public static Command CreateInspect()
    {
        var dir = new Argument<string>("dir") { Description = "model folder (Ptm or Hugging Face)" };
        var verify = new Option<bool>("--verify") { Description = "check files against their recorded sha256: a checkpoint or model folder, or every checkpoint of a run folder (exit 1 if any is damaged)" };
        var command = new Command("inspect", "Describe a model folder: architecture, parameters, dtypes, tokenizer") { dir, verify };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            if (r.GetValue(verify)) return Verify(r.GetValue(dir)!);
            var s = ModelSummary.Read(r.GetValue(dir)!);
            Console.WriteLine($"model_type    {s.ModelType}");
            Console.WriteLine($"architecture  {(s.Architectures.Count > 0 ? string.Join(", ", s.Architectures) : "(not given)")}");
            Console.WriteLine($"parameters    {s.ParameterCount:N0}");
            Console.WriteLine($"tensors       {s.TensorCount} in {s.WeightsFile} ({string.Join(", ", s.TensorsByDType.Select(kv => $"{kv.Key}: {kv.Value}"))})");
            Console.WriteLine(s.TokenizerKind is null
                ? "tokenizer     none"
                : $"tokenizer     {s.TokenizerKind}, {s.TokenizerVocabSize} tokens, special: {(s.SpecialTokens.Count > 0 ? string.Join(" ", s.SpecialTokens) : "none")}");
            return 0;
        }));
        return command;
    }

    // One line per folder checked: "ok", "damaged: ..." or "no checksums"; a run folder checks each checkpoint and
    // says which one latest names.
    static int Verify(string path)
    {
        if (!Directory.Exists(path)) throw new InvalidInputException($"{path}: no such folder");
        bool isRun = !File.Exists(Path.Combine(path, "config.json")) && Directory.Exists(Path.Combine(path, Checkpoints.Folder));
        var folders = isRun ? Checkpoints.Steps(path).ToList() : [path];
        string best = Path.Combine(path, Checkpoints.BestFolder);
        if (isRun && Directory.Exists(best)) folders.Add(best);
        if (folders.Count == 0) throw new InvalidInputException($"{path}: run folder with no checkpoints");
        string? latest = null;
        int damaged = 0;
        if (isRun)
        {
            try { latest = Checkpoints.Latest(path); }
            catch (InvalidInputException e) { Console.WriteLine($"latest: {e.Message}"); damaged++; }
        }
        foreach (string folder in folders)
        {
            var check = Checkpoints.Verify(folder);
            string mark = folder == latest ? " (latest)" : "";
            if (!check.IsIntact) damaged++;
            Console.WriteLine(!check.IsIntact ? $"{folder}{mark}: damaged: {string.Join("; ", check.Problems)}"
                : check.HasChecksums ? $"{folder}{mark}: ok, {check.FilesChecked} files match {Checkpoints.ChecksumsFile}"
                : $"{folder}{mark}: no {Checkpoints.ChecksumsFile}; required files present, contents not verifiable");
        }
        if (damaged == 0) return 0;
        if (isRun && Checkpoints.NewestIntact(path) is { } intact) Console.WriteLine($"newest intact checkpoint: {intact}");
        Console.Error.WriteLine($"error: {damaged} of {folders.Count} folders damaged");
        return 1;
    }
}
