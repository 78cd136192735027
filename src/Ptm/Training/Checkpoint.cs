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
internal sealed record TrainerState
{
    /// <summary>Optimizer steps completed.</summary>
    [JsonPropertyName("step")] public int Step { get; init; }
    /// <summary>Tokens trained on so far (the objectives' step token counts, summed).</summary>
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }
    /// <summary>Lowest held-out loss so far, or null before the first evaluation.</summary>
    [JsonPropertyName("best_val_loss")] public double? BestValLoss { get; init; }
    /// <summary>libtorch's CPU generator state (dropout), base64.</summary>
    [JsonPropertyName("rng_state")] public string RngState { get; init; } = "";
    /// <summary>Micro-batches consumed; the data stream is indexed by it.</summary>
    [JsonPropertyName("data_position")] public long DataPosition { get; init; }
}

/// <summary>
/// Checkpoints of a run: <c>checkpoints/step-NNNNNNNN/</c> folders and a <c>checkpoints/latest</c> file naming
/// the newest complete one. A folder is written under a temporary name and renamed into place, and only then
/// does <c>latest</c> move (itself replaced by rename), so a kill at any moment leaves a loadable latest.
/// </summary>
public static class Checkpoints
{
    /// <summary>Name of the sub-folder of a run folder that holds its checkpoints.</summary>
    public const string Folder = "checkpoints";
    /// <summary>The file in <see cref="Folder"/> that names the newest complete checkpoint.</summary>
    public const string LatestFile = "latest";
    /// <summary>A fine-tuning run's best-on-validation model, beside its checkpoints.</summary>
    public const string BestFolder = "best";
    const int Keep = 2;

    /// <summary>Writes checkpoint <c>step-NNNNNNNN</c> (model through <paramref name="saveModel"/>, training config,
    /// state, optimizer state), points <c>latest</c> at it and keeps only the newest two; returns its folder.</summary>
    internal static string Save(string runDir, int step, Action<string> saveModel, TrainingConfig training,
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

    /// <summary>The trainer state of a checkpoint folder.</summary>
    /// <exception cref="InvalidInputException">the state file is missing or malformed</exception>
    internal static TrainerState LoadState(string checkpointDir)
    {
        string path = Path.Combine(checkpointDir, ModelFolder.StateFile);
        try { return JsonFiles.ReadObject(path).Deserialize<TrainerState>(JsonFiles.Options) ?? throw new InvalidInputException($"{path}: empty"); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: field '{JsonFiles.FieldOf(e)}' is malformed"); }
    }

    /// <summary>Loads a checkpoint's optimizer state into <paramref name="optimizer"/>, which must have the same
    /// parameter groups as the one saved.</summary>
    /// <exception cref="InvalidInputException">the optimizer file is missing or corrupt</exception>
    internal static void LoadOptimizer(string checkpointDir, OptimizerHelper optimizer)
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
