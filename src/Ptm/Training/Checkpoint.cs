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

/// <summary>One file's entry in a checkpoint's checksums file.</summary>
internal sealed record ChecksumEntry([property: JsonPropertyName("bytes")] long Bytes, [property: JsonPropertyName("sha256")] string Sha256);

/// <summary>A checkpoint's checksums file: its step and every file's size and sha256.</summary>
internal sealed record ChecksumsRecord([property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("files")] SortedDictionary<string, ChecksumEntry> Files);

/// <summary>What <see cref="Checkpoints.Verify"/> found in a folder.</summary>
/// <param name="Directory">The folder checked.</param>
/// <param name="HasChecksums">Whether it had a checksums file (without one only the required files are checked).</param>
/// <param name="FilesChecked">Files whose size and sha256 were compared.</param>
/// <param name="Problems">One line per problem ("model.safetensors: sha256 differs from checksums.json"); empty when intact.</param>
public sealed record CheckpointVerification(string Directory, bool HasChecksums, int FilesChecked, IReadOnlyList<string> Problems)
{
    /// <summary>No problem found.</summary>
    public bool IsIntact => Problems.Count == 0;
}

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
/// the newest complete one. A folder is written under a temporary name (<c>.step-NNNNNNNN.PID.tmp</c>), its files
/// flushed and their sha256 recorded in <see cref="ChecksumsFile"/>, then renamed into place, and only then does
/// <c>latest</c> move (itself replaced by rename). Nothing <c>latest</c> names is ever deleted or moved before
/// <c>latest</c> names something else complete, so a kill at any moment leaves a loadable latest; temporary folders
/// left by a killed writer are removed by the next save.
/// </summary>
/// <remarks>
/// Checksums are verified where a damaged file would silently do harm and the cost is paid once: when a run
/// resumes (<see cref="Pretraining.ResumeGpt"/>), and on request (<see cref="Verify"/>, <c>ptm inspect --verify</c>).
/// Loading a model for generation or scoring does not hash it (for a large model that would cost as much as reading
/// it twice); the safetensors reader still checks the file's structure.
/// </remarks>
public static class Checkpoints
{
    /// <summary>Name of the sub-folder of a run folder that holds its checkpoints.</summary>
    public const string Folder = "checkpoints";
    /// <summary>The file in <see cref="Folder"/> that names the newest complete checkpoint.</summary>
    public const string LatestFile = "latest";
    /// <summary>A fine-tuning run's best-on-validation model, beside its checkpoints.</summary>
    public const string BestFolder = "best";
    /// <summary>The file in each checkpoint that records the size and sha256 of every other file in it.</summary>
    public const string ChecksumsFile = "checksums.json";
    const int Keep = 2;

    /// <summary>Writes checkpoint <c>step-NNNNNNNN</c> (model through <paramref name="saveModel"/>, training config,
    /// state, optimizer state, checksums), points <c>latest</c> at it and keeps only the newest two; returns its folder.</summary>
    /// <exception cref="StorageException">the disk refused a write (full, file-size limit, ...); the checkpoint was not
    /// published, its temporary folder removed, and the previous checkpoint is intact</exception>
    internal static string Save(string runDir, int step, Action<string> saveModel, TrainingConfig training,
        OptimizerHelper optimizer, TrainerState state)
    {
        FileSizeSignal.Ignore();
        string root = Path.Combine(runDir, Folder);
        string name = $"step-{step:D8}";
        string temp = Path.Combine(root, $".{name}.{Environment.ProcessId}.tmp");
        string final = Path.Combine(root, name);
        try
        {
            Directory.CreateDirectory(root);
            CleanStale(runDir);
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
            WriteChecksums(temp, step);
            Publish(root, name, temp, final);
        }
        catch (Exception e)
        {
            // The staged folder goes, unless a failure mid-publish left latest naming it.
            try { if (Directory.Exists(temp) && ReadLatestName(root) != Path.GetFileName(temp)) Directory.Delete(temp, true); }
            catch (IOException) { }
            if (StorageException.IsWriteFailure(e)) throw new StorageException(final, "checkpoint", e);
            throw;
        }
        Prune(root);
        return final;
    }

    // Renames the complete staged folder into place and moves latest to it. When the step's folder exists already (a
    // re-save of the same step: Ctrl-C right after a scheduled checkpoint, or a resume stopped before its first step),
    // latest first names the staged folder, so that at no moment does it name a missing or partial one.
    static void Publish(string root, string name, string temp, string final)
    {
        if (Directory.Exists(final))
        {
            WriteLatest(root, Path.GetFileName(temp));
            PublishStage?.Invoke("latest names the staged folder");
            string aside = Path.Combine(root, $".{name}.{Environment.ProcessId}.old");
            if (Directory.Exists(aside)) Directory.Delete(aside, true);
            Directory.Move(final, aside);
            PublishStage?.Invoke("old folder moved aside");
            Directory.Move(temp, final); // a kill before latest moves back: Latest resolves the staged name to this folder
            PublishStage?.Invoke("new folder in place");
            WriteLatest(root, name);
            PublishStage?.Invoke("latest moved back");
            Directory.Delete(aside, true);
        }
        else
        {
            Directory.Move(temp, final);
            PublishStage?.Invoke("new folder in place");
            WriteLatest(root, name);
        }
    }

    /// <summary>For tests: called between the renames of a publish, to copy the folder as a kill at that moment would
    /// leave it.</summary>
    internal static Action<string>? PublishStage;

    static void WriteLatest(string root, string name) => AtomicFile.WriteAllText(Path.Combine(root, LatestFile), name + "\n");

    // Keeps the newest two step folders (the superseded one stays, for readers that resolved latest just before it
    // moved), and never the one latest names. A folder is renamed aside before it is deleted, so a kill during the
    // deletion leaves a ".step-N.PID.old" folder that CleanStale removes, never a step folder with files missing.
    static void Prune(string root)
    {
        string? named = ReadLatestName(root);
        foreach (var old in Directory.GetDirectories(root, "step-*").Select(Path.GetFileName).Order(StringComparer.Ordinal).SkipLast(Keep))
        {
            if (old == named) continue;
            string aside = Path.Combine(root, $".{old}.{Environment.ProcessId}.old");
            try
            {
                Directory.Move(Path.Combine(root, old!), aside);
                Directory.Delete(aside, true);
            }
            catch (IOException) { } // a reader holding it open on a platform that forbids it; the next save retries
        }
    }

    /// <summary>
    /// Removes what a killed or failed writer left in a run folder: staged checkpoint folders
    /// (<c>checkpoints/.step-*.tmp</c>, <c>.old</c>) and atomic-write temporaries (<c>.NAME.PID.*.tmp</c>) of processes
    /// that are no longer running or of this one, except a staged folder <c>latest</c> names. Called by every save and
    /// before a resume; returns the paths removed.
    /// </summary>
    public static IReadOnlyList<string> CleanStale(string runDir)
    {
        var removed = new List<string>();
        string root = Path.Combine(runDir, Folder);
        string? named = Directory.Exists(root) ? ReadLatestName(root) : null;
        foreach (string dir in new[] { runDir, root })
        {
            if (!Directory.Exists(dir)) continue;
            foreach (string entry in Directory.EnumerateFileSystemEntries(dir, ".*").ToList())
            {
                string file = Path.GetFileName(entry);
                if (file == named || !(file.EndsWith(".tmp", StringComparison.Ordinal) || file.EndsWith(".old", StringComparison.Ordinal))) continue;
                if (!TryOwner(file, out int pid) || (pid != Environment.ProcessId && IsRunning(pid))) continue;
                try
                {
                    if (Directory.Exists(entry)) Directory.Delete(entry, true); else File.Delete(entry);
                    removed.Add(entry);
                }
                catch (IOException) { }
                catch (UnauthorizedAccessException) { }
            }
        }
        return removed;
    }

    // ".step-00000005.1234.tmp", ".latest.1234.<guid>.tmp", ".run.json.1234.<guid>.tmp": the first all-digit dotted part after the name.
    static bool TryOwner(string file, out int pid)
    {
        pid = 0;
        var parts = file.Split('.');
        for (int i = parts.Length - 2; i >= 2; i--)
            if (parts[i].Length > 0 && parts[i].All(char.IsAsciiDigit) && int.TryParse(parts[i], out pid)
                && (parts[i + 1] == "tmp" || parts[i + 1] == "old" || parts[i + 1].Length == 32))
                return true;
        return false;
    }

    static bool IsRunning(int pid)
    {
        try
        {
            using var p = System.Diagnostics.Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static string? ReadLatestName(string root)
    {
        string pointer = Path.Combine(root, LatestFile);
        try { return File.Exists(pointer) ? File.ReadAllText(pointer).Trim() : null; }
        catch (IOException) { return null; }
    }

    /// <summary>The newest complete checkpoint folder of a run, or null if it has none.</summary>
    /// <exception cref="InvalidInputException"><c>latest</c> names a folder that does not exist (not something this
    /// class writes; the message names the newest checkpoint that is there)</exception>
    public static string? Latest(string runDir)
    {
        string root = Path.Combine(runDir, Folder);
        string pointer = Path.Combine(root, LatestFile);
        if (!File.Exists(pointer)) return null;
        string name = File.ReadAllText(pointer).Trim();
        if (name.Length == 0 || name.Contains('/') || name.Contains('\\') || name is "." or "..")
            throw new InvalidInputException($"{pointer}: expected a checkpoint folder name, found '{name}'");
        string dir = Path.Combine(root, name);
        if (Directory.Exists(dir)) return dir;
        // A staged folder named during a same-step re-save that was renamed into place before latest moved back.
        if (name.StartsWith(".step-", StringComparison.Ordinal) && name.Split('.') is [_, var step, ..] && Directory.Exists(Path.Combine(root, step)))
            return Path.Combine(root, step);
        string? newest = Steps(runDir).LastOrDefault();
        throw new InvalidInputException($"{pointer}: names checkpoint '{name}', which does not exist"
            + (newest is null ? "" : $" (the newest checkpoint there is {Path.GetFileName(newest)})"));
    }

    /// <summary>The run's <c>step-NNNNNNNN</c> checkpoint folders, oldest first.</summary>
    public static IReadOnlyList<string> Steps(string runDir)
    {
        string root = Path.Combine(runDir, Folder);
        return Directory.Exists(root)
            ? Directory.GetDirectories(root, "step-*").Where(d => !Path.GetFileName(d).Contains('.')).Order(StringComparer.Ordinal).ToList()
            : [];
    }

    /// <summary>The newest checkpoint of the run that <see cref="Verify"/> finds intact, or null if none is.</summary>
    public static string? NewestIntact(string runDir) => Steps(runDir).Reverse().FirstOrDefault(d => Verify(d).IsIntact);

    /// <summary>
    /// Checks the checkpoint a resume would continue from. When <c>latest</c> names one that fails
    /// <see cref="Verify"/> (or none that exists), and <paramref name="useNewestIntact"/> is set, points <c>latest</c>
    /// at the newest intact checkpoint and returns it; otherwise the error says what is wrong and which checkpoint is
    /// the newest intact one. Returns null when the run has no checkpoint.
    /// </summary>
    /// <exception cref="InvalidInputException">the latest checkpoint is damaged and <paramref name="useNewestIntact"/>
    /// is off, or no intact checkpoint remains</exception>
    public static string? RollBackToNewestIntact(string runDir, bool useNewestIntact = true)
    {
        string? latest;
        string problem;
        try
        {
            latest = Latest(runDir);
            if (latest is null) return Steps(runDir).Count == 0 ? null : RollBack(runDir, $"{Path.Combine(runDir, Folder, LatestFile)}: missing", useNewestIntact);
            var check = Verify(latest);
            if (check.IsIntact) return latest;
            problem = $"{latest}: damaged checkpoint ({string.Join("; ", check.Problems)})";
        }
        catch (InvalidInputException e) { problem = e.Message; }
        return RollBack(runDir, problem, useNewestIntact);
    }

    static string RollBack(string runDir, string problem, bool take)
    {
        string? intact = NewestIntact(runDir);
        if (intact is null) throw new InvalidInputException($"{problem}; no intact checkpoint remains to resume from");
        if (!take)
            throw new InvalidInputException($"{problem}; the newest intact checkpoint is {Path.GetFileName(intact)} "
                + $"(ResumeOptions.UseNewestIntact resumes from it, repeating the steps after it)");
        WriteLatest(Path.Combine(runDir, Folder), Path.GetFileName(intact));
        return intact;
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

    /// <summary>
    /// Loads from <paramref name="path"/> (a model or run folder, see <see cref="ResolveModelDirectory"/>) through
    /// <paramref name="load"/>. A live run may prune the checkpoint a reader resolved before the reader has opened its
    /// files; when loading fails and <c>latest</c> has moved since, the load is retried on the new latest (a few times).
    /// </summary>
    public static T LoadResolved<T>(string path, Func<string, T> load)
    {
        for (int attempt = 0; ; attempt++)
        {
            string dir = ResolveModelDirectory(path);
            try { return load(dir); }
            catch (Exception e) when (attempt < 4 && e is InvalidInputException or IOException && Moved(path, dir)) { }
        }
    }

    static bool Moved(string path, string dir)
    {
        try { return ResolveModelDirectory(path) != dir || !Directory.Exists(dir); }
        catch (InvalidInputException) { return false; }
    }

    static void WriteChecksums(string dir, int step)
    {
        var files = new SortedDictionary<string, ChecksumEntry>(StringComparer.Ordinal);
        foreach (string file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(file);
            if (name == ChecksumsFile || name.StartsWith('.')) continue;
            files[name] = new ChecksumEntry(new FileInfo(file).Length, Sha256(file));
        }
        AtomicFile.WriteAllText(Path.Combine(dir, ChecksumsFile), JsonSerializer.Serialize(new ChecksumsRecord(step, files), JsonFiles.Indented));
    }

    static string Sha256(string file)
    {
        using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
    }

    /// <summary>
    /// Checks a checkpoint or model folder against its <see cref="ChecksumsFile"/>: every file listed must be there
    /// with its size and sha256. A checkpoint also needs its weights, optimizer and trainer state. A folder without
    /// checksums (a Hugging Face or exported model, a checkpoint written before checksums existed) is reported as
    /// unverified, and intact as far as the required files go.
    /// </summary>
    public static CheckpointVerification Verify(string dir)
    {
        var problems = new List<string>();
        if (!Directory.Exists(dir)) return new CheckpointVerification(dir, false, 0, [$"{dir}: no such folder"]);
        string path = Path.Combine(dir, ChecksumsFile);
        bool isCheckpoint = File.Exists(Path.Combine(dir, ModelFolder.StateFile)) || File.Exists(path);
        if (isCheckpoint)
            foreach (string required in new[] { ModelFolder.ConfigFile, ModelFolder.WeightsFile, ModelFolder.StateFile, ModelFolder.OptimizerFile })
                if (!File.Exists(Path.Combine(dir, required))) problems.Add($"{required}: missing");
        if (!File.Exists(path)) return new CheckpointVerification(dir, false, 0, problems);
        ChecksumsRecord? record;
        try { record = JsonFiles.ReadObject(path).Deserialize<ChecksumsRecord>(JsonFiles.Options); }
        catch (Exception e) when (e is JsonException or InvalidInputException) { record = null; }
        if (record?.Files is not { Count: > 0 } files)
        {
            problems.Add($"{ChecksumsFile}: unreadable");
            return new CheckpointVerification(dir, true, 0, problems);
        }
        foreach (var (name, entry) in files)
        {
            string file = Path.Combine(dir, name);
            if (name.Contains('/') || name.Contains('\\') || name.StartsWith('.')) { problems.Add($"{ChecksumsFile}: bad file name '{name}'"); continue; }
            if (!File.Exists(file)) { if (!problems.Contains($"{name}: missing")) problems.Add($"{name}: missing"); continue; }
            long length = new FileInfo(file).Length;
            if (length != entry.Bytes) problems.Add($"{name}: {length} bytes, {ChecksumsFile} records {entry.Bytes}");
            else if (!string.Equals(Sha256(file), entry.Sha256, StringComparison.OrdinalIgnoreCase)) problems.Add($"{name}: sha256 differs from {ChecksumsFile}");
        }
        return new CheckpointVerification(dir, true, files.Count, problems);
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
