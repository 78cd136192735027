using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.HuggingFace;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>What a run needs besides weights and optimizer moments to continue exactly where it stopped.</summary>
public sealed record TrainerState
{
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    [JsonPropertyName("best_val_loss")] public double? BestValLoss { get; init; }
    /// <summary>libtorch's CPU generator state (dropout), base64.</summary>
    [JsonPropertyName("rng_state")] public string RngState { get; init; } = "";
    /// <summary>Micro-batches consumed; the data stream is indexed by it.</summary>
    [JsonPropertyName("data_position")] public long DataPosition { get; init; }
}

/// <summary>
/// A model folder in Hugging Face layout (config.json, model.safetensors, tokenizer files) plus, for
/// checkpoints, training.json, trainer_state.json and optimizer.bin.
/// </summary>
public static class ModelFolder
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    public const string TrainingFile = "training.json";
    public const string StateFile = "trainer_state.json";
    public const string OptimizerFile = "optimizer.bin";

    public static void SaveModel(string dir, Gpt model, ITokenizer tokenizer) => Save(dir, model.Config.ToJson(), model, tokenizer);

    public static void SaveModel(string dir, BertForPreTraining model, ITokenizer tokenizer) => Save(dir, model.Config.ToJson(), model, tokenizer);

    static void Save(string dir, string configJson, nn.Module model, ITokenizer tokenizer)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), configJson);
        SafeTensorsWriter.Write(Path.Combine(dir, WeightsFile), model.state_dict(),
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "ptm" });
        tokenizer.Save(dir);
    }

    /// <summary>The <c>model_type</c> of a model folder's config.json ("gpt2", "bert").</summary>
    public static string ModelType(string dir)
    {
        string path = Path.Combine(dir, ConfigFile);
        var root = JsonFiles.ReadObject(path);
        return root.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw new InvalidInputException($"{path}: missing field 'model_type' (expected \"gpt2\" or \"bert\")");
    }

    /// <summary>Loads a GPT from a model folder, or from a run folder's latest checkpoint.</summary>
    public static (Gpt Model, ITokenizer Tokenizer) LoadGpt(string path)
    {
        string dir = ResolveFamily(path, "gpt2");
        var config = GptConfig.Load(Path.Combine(dir, ConfigFile));
        var tokenizer = LoadTokenizer(dir, config.VocabSize);
        var model = new Gpt(config);
        LoadWeights(model, Path.Combine(dir, WeightsFile));
        model.eval();
        return (model, tokenizer);
    }

    /// <summary>Loads a BERT (with its pre-training heads) and its WordPiece tokenizer.</summary>
    public static (BertForPreTraining Model, WordPieceTokenizer Tokenizer) LoadBert(string path)
    {
        string dir = ResolveFamily(path, "bert");
        var config = BertConfig.Load(Path.Combine(dir, ConfigFile));
        if (LoadTokenizer(dir, config.VocabSize) is not WordPieceTokenizer tokenizer)
            throw new InvalidInputException($"{dir}: a BERT model needs a WordPiece vocabulary (vocab.txt or tokenizer.json)");
        var model = new BertForPreTraining(config);
        LoadWeights(model, Path.Combine(dir, WeightsFile));
        model.eval();
        return (model, tokenizer);
    }

    static string ResolveFamily(string path, string modelType)
    {
        string dir = Checkpoints.ResolveModelDirectory(path);
        string actual = ModelType(dir);
        if (actual != modelType)
            throw new InvalidInputException($"{Path.Combine(dir, ConfigFile)}: model_type is \"{actual}\", but this command needs a \"{modelType}\" model");
        return dir;
    }

    static ITokenizer LoadTokenizer(string dir, int modelVocabSize)
    {
        var tokenizer = TokenizerFiles.Load(dir);
        if (tokenizer.VocabSize > modelVocabSize)
            throw new InvalidInputException($"{dir}: tokenizer has {tokenizer.VocabSize} tokens but config.json vocab_size is {modelVocabSize}");
        return tokenizer;
    }

    /// <summary>Copies every tensor of the file into the model; a missing, unexpected or mis-shaped tensor is an error naming it.</summary>
    public static void LoadWeights(nn.Module model, string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file");
        using var file = SafeTensorsFile.Open(path);
        var target = model.state_dict();
        var missing = target.Keys.Where(k => !file.Names.Contains(k)).ToList();
        if (missing.Count > 0) throw new InvalidInputException($"{path}: missing tensor(s) {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", ..." : "")}");
        var unexpected = file.Names.Where(n => !target.ContainsKey(n)).ToList();
        if (unexpected.Count > 0) throw new InvalidInputException($"{path}: unexpected tensor(s) {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}");
        foreach (var (name, dest) in target)
        {
            long[] shape = file.GetInfo(name).Shape;
            if (!shape.SequenceEqual(dest.shape))
                throw new InvalidInputException($"{path}: tensor '{name}' has shape [{string.Join(", ", shape)}] but the model expects [{string.Join(", ", dest.shape)}]");
        }
        // Every tensor is validated before the first is copied, so a bad file never leaves a half-loaded model.
        using var _ = no_grad();
        foreach (var (name, dest) in target)
        {
            using var src = file.Load(name, dest.dtype);
            dest.copy_(src);
        }
    }
}

/// <summary>
/// Checkpoints of a run: <c>checkpoints/step-NNNNNNNN/</c> folders and a <c>checkpoints/latest</c> file naming
/// the newest complete one. A folder is written under a temporary name and renamed into place, and only then
/// does <c>latest</c> move (itself replaced by rename), so a kill at any moment leaves a loadable latest.
/// </summary>
public static class Checkpoints
{
    public const string Folder = "checkpoints";
    public const string LatestFile = "latest";
    /// <summary>A fine-tuning run's best-on-validation model, beside its checkpoints.</summary>
    public const string BestFolder = "best";
    const int Keep = 2;

    public static string Save(string runDir, int step, Action<string> saveModel, TrainingConfig training,
        OptimizerHelper optimizer, TrainerState state)
    {
        string root = Path.Combine(runDir, Folder);
        Directory.CreateDirectory(root);
        string name = $"step-{step:D8}";
        string temp = Path.Combine(root, $".{name}.{Environment.ProcessId}.tmp");
        if (Directory.Exists(temp)) Directory.Delete(temp, true);
        Directory.CreateDirectory(temp);
        saveModel(temp);
        AtomicFile.WriteAllText(Path.Combine(temp, ModelFolder.TrainingFile), JsonSerializer.Serialize(training, JsonFiles.Indented));
        AtomicFile.WriteAllText(Path.Combine(temp, ModelFolder.StateFile), JsonSerializer.Serialize(state, JsonFiles.Indented));
        AtomicFile.Write(Path.Combine(temp, ModelFolder.OptimizerFile), s =>
        {
            using var w = new BinaryWriter(s, System.Text.Encoding.UTF8, leaveOpen: true);
            optimizer.save_state_dict(w);
        });
        string final = Path.Combine(root, name);
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(temp, final);
        AtomicFile.WriteAllText(Path.Combine(root, LatestFile), name + "\n");
        foreach (var old in Directory.GetDirectories(root, "step-*").Select(Path.GetFileName).Order(StringComparer.Ordinal).SkipLast(Keep))
            Directory.Delete(Path.Combine(root, old!), true);
        return final;
    }

    /// <summary>The newest complete checkpoint folder of a run, or null if it has none.</summary>
    public static string? Latest(string runDir)
    {
        string pointer = Path.Combine(runDir, Folder, LatestFile);
        if (!File.Exists(pointer)) return null;
        string name = File.ReadAllText(pointer).Trim();
        string dir = Path.Combine(runDir, Folder, name);
        if (name.Length == 0 || name.Contains('/') || !Directory.Exists(dir))
            throw new InvalidInputException($"{pointer}: names checkpoint '{name}', which does not exist");
        return dir;
    }

    /// <summary>
    /// A model folder itself; or a run folder: its <c>best/</c> model if it has one (fine-tuning keeps the best
    /// epoch on validation there, as HF's load_best_model_at_end would), else its latest checkpoint.
    /// </summary>
    public static string ResolveModelDirectory(string path)
    {
        if (!Directory.Exists(path)) throw new InvalidInputException($"{path}: no such model or run folder");
        if (File.Exists(Path.Combine(path, ModelFolder.ConfigFile))) return path;
        string best = Path.Combine(path, BestFolder);
        if (File.Exists(Path.Combine(best, ModelFolder.ConfigFile))) return best;
        return Latest(path) ?? throw new InvalidInputException($"{path}: neither a model folder (config.json, model.safetensors, tokenizer files) nor a run folder with {BestFolder}/ or {Folder}/{LatestFile}");
    }

    public static TrainerState LoadState(string checkpointDir)
    {
        string path = Path.Combine(checkpointDir, ModelFolder.StateFile);
        try { return JsonFiles.ReadObject(path).Deserialize<TrainerState>(JsonFiles.Options) ?? throw new InvalidInputException($"{path}: empty"); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: field '{JsonFiles.FieldOf(e)}' is malformed"); }
    }

    public static void LoadOptimizer(string checkpointDir, OptimizerHelper optimizer)
    {
        string path = Path.Combine(checkpointDir, ModelFolder.OptimizerFile);
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file (cannot resume without the optimizer state)");
        try
        {
            using var r = new BinaryReader(File.OpenRead(path));
            optimizer.load_state_dict(r);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentException or InvalidOperationException)
        {
            throw new InvalidInputException($"{path}: corrupt optimizer state ({e.Message})");
        }
    }
}
