using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Text.Json.Nodes;
using Ptm.Data;
using Ptm.Distributed;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;

namespace Ptm.Training;

/// <summary>
/// Pre-training recipes: from text (a file, a folder, in-memory strings) or a prepared folder to a model being
/// trained, in one call. The recipe trains the tokenizer on the training split, prepares the data, seeds libtorch
/// from <see cref="TrainingConfig.Seed"/>, builds the model and objective, and hands back a run whose
/// <see cref="PretrainingRun.Train"/> does the rest.
/// </summary>
/// <example>
/// <code>
/// var options = new GptPretrainingOptions { Model = new GptConfig { NLayer = 2, NHead = 2, NEmbd = 64, NPositions = 64 },
///     Training = new TrainingConfig { MaxSteps = 50, BlockSize = 32, BatchSize = 8, WarmupSteps = 5 } };
/// using var run = Pretraining.Gpt(PretrainingCorpus.FromPath("book.txt"), options);
/// var result = run.Train();
/// </code>
/// </example>
/// <remarks>
/// Without a run folder nothing is written but the prepared data, in a temporary folder that the run deletes when
/// disposed. With one, the folder gets run.json, data/, metrics.jsonl and checkpoints/, and can be continued with
/// <see cref="ResumeGpt"/> / <see cref="ResumeBert"/>. The run owns the trainer (and its optimizer), the model and the
/// data; dispose it. Its model stays usable after training (generation, scoring, saving) until the run is disposed.
/// <para>Data-parallel: every rank of an <see cref="IProcessGroup"/> makes the same call with the same arguments. With
/// a run folder, rank 0 prepares the data and writes the folder, and the other ranks then read the data from it (it must
/// be on a file system they all see, or a prepared folder each machine has at the same path) and write nothing; without
/// one, each rank prepares its own temporary copy. If any rank fails to start, every rank throws (the failing one its
/// own error, the others a <see cref="DistributedException"/>), so none is left waiting.</para>
/// </remarks>
public static partial class Pretraining
{
    /// <summary>Prepares <paramref name="corpus"/> (unless it is a prepared folder) and builds a GPT and its trainer.</summary>
    /// <param name="corpus">the text, or a folder prepared for GPT pre-training</param>
    /// <param name="options">model, tokenizer and training settings; null for the defaults</param>
    /// <param name="runFolder">where to keep run.json, data, metrics and checkpoints; null to write nothing lasting</param>
    /// <param name="log">receives one line per preparation step ("preparing ...", the split sizes); null for silence</param>
    /// <param name="processGroup">the ranks to train with data-parallel (see the remarks); null for one process</param>
    public static GptPretraining Gpt(PretrainingCorpus corpus, GptPretrainingOptions? options = null, RunFolder? runFolder = null, Action<string>? log = null,
        IProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        options ??= new GptPretrainingOptions();
        options.Validate(); // everything checked before any slow work
        Func<string, GptPretraining> open = dir => new GptPretraining(options, dir);
        return Coordinated(processGroup, runFolder is null,
            () => Start(corpus, runFolder, log, IsPreparedGpt, (dir, l) => PrepareGpt(corpus, options.Tokenizer, dir, l), open, r => r.RunConfig.ToNode(), processGroup),
            () => Follow(runFolder!.Path, open, processGroup!));
    }

    /// <summary>Prepares <paramref name="corpus"/> into BERT instances (unless it is a prepared folder) and builds a BERT with its pre-training heads and its trainer.</summary>
    /// <param name="corpus">the text, or a folder prepared for BERT pre-training</param>
    /// <param name="options">model, vocabulary, data and training settings; null for the defaults</param>
    /// <param name="runFolder">where to keep run.json, data, metrics and checkpoints; null to write nothing lasting</param>
    /// <param name="log">receives one line per preparation step; null for silence</param>
    /// <param name="processGroup">the ranks to train with data-parallel (see the remarks); null for one process</param>
    public static BertPretraining Bert(PretrainingCorpus corpus, BertPretrainingOptions? options = null, RunFolder? runFolder = null, Action<string>? log = null,
        IProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        options ??= new BertPretrainingOptions();
        options.Validate();
        Func<string, BertPretraining> open = dir => new BertPretraining(options, dir);
        return Coordinated(processGroup, runFolder is null,
            () => Start(corpus, runFolder, log, IsPreparedBert, (dir, l) => PrepareBert(corpus, options, dir, l), open, r => r.RunConfig.ToNode(), processGroup),
            () => Follow(runFolder!.Path, open, processGroup!));
    }

    /// <summary>Continues a GPT run folder from its latest checkpoint, with the options of its run.json or
    /// <paramref name="options"/> (training settings may change; the model's may not). With a
    /// <paramref name="processGroup"/> every rank calls it; the number of ranks may differ from the run's before.</summary>
    /// <remarks>The checkpoint's checksums are verified first; a damaged one is refused naming the newest intact one,
    /// which <paramref name="resume"/>'s <see cref="ResumeOptions.UseNewestIntact"/> takes instead. A run stopped before
    /// its first checkpoint starts again from step 0 (same seed, same result). A run that already reached max_steps
    /// resumes with nothing left to do (<see cref="Trainer.Step"/> equals MaxSteps); give more steps to continue it.</remarks>
    public static GptPretraining ResumeGpt(string runDirectory, GptPretrainingOptions? options = null, ResumeOptions? resume = null,
        IProcessGroup? processGroup = null)
    {
        GptPretraining Open(bool lead)
        {
            var (node, runFile, dataDir, checkpoint) = OpenForResume(runDirectory, resume: resume ?? new ResumeOptions());
            var resolved = options ?? GptPretrainingOptions.From(GptRunConfig.FromNode(node, runFile), vocabSizeFromTokenizer: false);
            resolved.Validate();
            return Continue(new GptPretraining(resolved, dataDir), runDirectory, runFile, node, checkpoint, r => r.RunConfig.ToNode(), processGroup, lead);
        }
        return Coordinated(processGroup, false, () => Open(lead: true), () => Open(lead: false));
    }

    /// <summary>Continues a BERT run folder from its latest checkpoint (see <see cref="ResumeGpt"/>).</summary>
    public static BertPretraining ResumeBert(string runDirectory, BertPretrainingOptions? options = null, ResumeOptions? resume = null,
        IProcessGroup? processGroup = null)
    {
        BertPretraining Open(bool lead)
        {
            var (node, runFile, dataDir, checkpoint) = OpenForResume(runDirectory, resume: resume ?? new ResumeOptions());
            var resolved = options ?? BertPretrainingOptions.From(BertRunConfig.FromNode(node, runFile), vocabSizeFromTokenizer: false);
            resolved.Validate();
            return Continue(new BertPretraining(resolved, dataDir), runDirectory, runFile, node, checkpoint, r => r.RunConfig.ToNode(), processGroup, lead);
        }
        return Coordinated(processGroup, false, () => Open(lead: true), () => Open(lead: false));
    }

    /// <summary>Runs <paramref name="lead"/> on rank 0 (on every rank when <paramref name="eachRankAlone"/>), then, once
    /// it succeeded, <paramref name="follow"/> on the others; then every rank learns whether all succeeded.</summary>
    static TRun Coordinated<TRun>(IProcessGroup? group, bool eachRankAlone, Func<TRun> lead, Func<TRun> follow) where TRun : PretrainingRun
    {
        if (group is null) return lead();
        TRun? run = null;
        Exception? failure = null;
        void Attempt(Func<TRun> start)
        {
            try { run = start(); }
            catch (Exception e) { failure = e; }
        }
        if (eachRankAlone || group.Rank == 0) Attempt(lead);
        if (!eachRankAlone)
        {
            // The others read what rank 0 wrote, so they start only once it is there.
            if (!AllSucceeded(group, group.Rank != 0 || failure is null))
            {
                if (failure is not null) ExceptionDispatchInfo.Throw(failure);
                throw new DistributedException("rank 0 could not start the run (its error is in its output); stopped on every rank");
            }
            if (group.Rank != 0) Attempt(follow);
        }
        if (!AllSucceeded(group, failure is null))
        {
            run?.Dispose();
            if (failure is not null) ExceptionDispatchInfo.Throw(failure);
            throw new DistributedException("another rank could not start the run (its error is in its output); stopped on every rank");
        }
        return run!;
    }

    static bool AllSucceeded(IProcessGroup group, bool succeeded)
    {
        long[] failures = [succeeded ? 0 : 1];
        group.AllReduceSum(failures);
        return failures[0] == 0;
    }

    /// <summary>A rank other than 0 joining a new run: it opens the data rank 0 prepared and writes nothing.</summary>
    static TRun Follow<TRun>(string runDir, Func<string, TRun> open, IProcessGroup group) where TRun : PretrainingRun
    {
        var run = open(OpenForResume(runDir, resume: null).DataDir);
        try
        {
            run.StartTrainer(null, group);
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    /// <summary>A run folder's run.json without its data_dir field: the sections to apply changes to before
    /// resuming (read them with <see cref="GptRunConfig.FromNode"/> or <see cref="BertRunConfig.FromNode"/>).</summary>
    public static JsonObject ReadRunConfig(string runDirectory) => OpenForResume(runDirectory, resume: null).Node;

    // resume null: only run.json is read (the checkpoint is not looked at).
    static (JsonObject Node, string RunFile, string DataDir, string? Checkpoint) OpenForResume(string runDir, ResumeOptions? resume)
    {
        string runFile = Path.Combine(runDir, RunFolder.RunFile);
        if (File.Exists(runDir)) throw new InvalidInputException($"{runDir}: is a file, not a run folder");
        if (!File.Exists(runFile)) throw new InvalidInputException($"{runDir}: no {RunFolder.RunFile}; nothing to resume");
        var node = RunConfigFile.ReadNode(runFile);
        string dataField = node[RunFolder.DataDirField]?.GetValue<string>() ?? throw new InvalidInputException($"{runFile}: missing field '{RunFolder.DataDirField}'");
        node.Remove(RunFolder.DataDirField);
        string dataDir = Path.IsPathRooted(dataField) ? dataField : Path.Combine(runDir, dataField);
        string? checkpoint = resume is null ? null : Checkpoints.RollBackToNewestIntact(runDir, resume.UseNewestIntact);
        return (node, runFile, dataDir, checkpoint);
    }

    // checkpoint null: the run stopped before its first checkpoint and starts again from step 0.
    static TRun Continue<TRun>(TRun run, string runDir, string runFile, JsonObject oldNode, string? checkpoint, Func<TRun, JsonObject> resolved,
        IProcessGroup? group, bool lead) where TRun : PretrainingRun
    {
        try
        {
            if (!lead)
            {
                // Rank 0 checked the folder and rewrote run.json; the others only load the checkpoint.
                run.StartTrainer(null, group);
                if (checkpoint is not null) run.Trainer.Resume(checkpoint);
                run.ResumedFrom = checkpoint ?? "";
                return run;
            }
            if (checkpoint is not null)
            {
                string saved = File.ReadAllText(Path.Combine(checkpoint, ModelFolder.ConfigFile));
                if (!JsonNode.DeepEquals(JsonNode.Parse(saved), JsonNode.Parse(run.ModelConfigJson)))
                    throw new InvalidInputException($"{runFile}: the model section differs from the checkpoint's config.json; model settings cannot change on resume");
            }
            string dataField = RunConfigFile.ReadNode(runFile)[RunFolder.DataDirField]!.GetValue<string>();
            var updated = resolved(run);
            updated[RunFolder.DataDirField] = dataField;
            run.StartTrainer(runDir, group);
            if (checkpoint is not null) run.Trainer.Resume(checkpoint);
            else MetricsFile.Trim(run.Trainer.MetricsPath!, 0);
            // Only a resume that got this far records its settings: a failed one leaves run.json as it was.
            StorageException.Guard(runFile, "", () => AtomicFile.WriteAllText(runFile, updated.ToJsonString(JsonFiles.Indented)));
            Checkpoints.CleanStale(runDir);
            run.ResumedFrom = checkpoint ?? "";
            return run;
        }
        catch
        {
            run.Dispose();
            throw;
        }
    }

    static TRun Start<TRun>(PretrainingCorpus corpus, RunFolder? runFolder, Action<string>? log, Func<PretrainingCorpus, bool> isPrepared,
        Action<string, Action<string>> prepare, Func<string, TRun> open, Func<TRun, JsonObject> resolved, IProcessGroup? group) where TRun : PretrainingRun
    {
        log ??= _ => { };
        bool prepared = isPrepared(corpus);
        if (runFolder is null)
        {
            string? temp = prepared ? null : Path.Combine(Path.GetTempPath(), "ptm-pretraining-" + Guid.NewGuid().ToString("N"));
            try
            {
                if (temp is not null) prepare(temp, log);
                var run = open(temp ?? corpus.Path!);
                run.TemporaryData = temp;
                try { run.StartTrainer(null, group); }
                catch { run.Dispose(); throw; }
                return run;
            }
            catch
            {
                if (temp is not null && Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
                throw;
            }
        }

        string runDir = runFolder.Path;
        if (File.Exists(runDir)) throw new InvalidInputException($"{runDir}: is a file; give a folder for the run");
        if (Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
        {
            if (runFolder.Mode != RunFolderMode.Replace)
                throw new InvalidInputException($"{runDir}: already exists; resume it or replace it (RunFolderMode.Replace)");
            if (!File.Exists(Path.Combine(runDir, RunFolder.RunFile)))
                throw new InvalidInputException($"{runDir}: is not a Ptm run folder (no {RunFolder.RunFile}); refusing to delete it");
        }
        if (prepared && Directory.Exists(runDir) && FolderPaths.IsSameOrInside(corpus.Path!, runDir))
            throw new InvalidInputException($"{corpus.Path}: the prepared data lies inside the run folder {runDir}, which replacing the run would delete; use another run folder");
        string staging = Path.TrimEndingDirectorySeparator(runDir) + ".preparing";
        if (!prepared) prepare(staging, log);
        open(prepared ? corpus.Path! : staging).Dispose(); // the data fits the model; reopened below from its final place

        // Only now, with the options valid and the data ready, is an old run replaced.
        if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
        Directory.CreateDirectory(runDir);
        string dataDir = prepared ? Path.GetFullPath(corpus.Path!) : Path.Combine(runDir, RunFolder.DataFolder);
        if (!prepared) Directory.Move(staging, dataDir);
        var opened = open(dataDir);
        try
        {
            var record = resolved(opened);
            record[RunFolder.DataDirField] = prepared ? dataDir : RunFolder.DataFolder;
            AtomicFile.WriteAllText(Path.Combine(runDir, RunFolder.RunFile), record.ToJsonString(JsonFiles.Indented));
            opened.StartTrainer(runDir, group);
            return opened;
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Whether <paramref name="corpus"/> is a folder prepared for GPT: false for raw text, true for a token-shard
    /// manifest, and an error for BERT data (which the raw-text reader would misread).
    /// </summary>
    public static bool IsPreparedGpt(PretrainingCorpus corpus) => IsPrepared(corpus, wantBert: false);

    /// <summary>Whether <paramref name="corpus"/> is a folder prepared for BERT (see <see cref="IsPreparedGpt"/>).</summary>
    public static bool IsPreparedBert(PretrainingCorpus corpus) => IsPrepared(corpus, wantBert: true);

    static bool IsPrepared(PretrainingCorpus corpus, bool wantBert)
    {
        if (!corpus.IsPreparedFolder) return false;
        string manifest = Path.Combine(corpus.Path!, DataManifest.FileName);
        bool isBert;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest));
            isBert = doc.RootElement.TryGetProperty("objective", out _);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidInputException($"{manifest}: not valid JSON ({e.Message.Split('\n')[0]})");
        }
        if (isBert != wantBert)
            throw new InvalidInputException($"{corpus.Path}: holds {(isBert ? "BERT (masked-LM)" : "GPT (token shard)")} data; {(wantBert ? "BERT" : "GPT")} pre-training needs data prepared for objective {(wantBert ? "mlm-nsp, mlm-sop or mlm" : "lm")}");
        return true;
    }

    static void PrepareGpt(PretrainingCorpus corpus, TokenizerSpec spec, string outputDir, Action<string> log)
    {
        log($"preparing {corpus.Name} with a {spec.Kind} tokenizer{(spec.Kind == "bpe" ? $" of {spec.VocabSize} tokens" : "")}...");
        var clock = Stopwatch.StartNew();
        var loaded = corpus.Load();
        var tokenizer = CorpusTokenizer.Train(spec.Kind, spec.VocabSize, loaded);
        var result = Preparer.Prepare(tokenizer, loaded, new PrepareOptions(outputDir, Force: true));
        foreach (string line in result.Summary(clock.Elapsed)) log(line);
    }

    static void PrepareBert(PretrainingCorpus corpus, BertPretrainingOptions options, string outputDir, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        log($"preparing {corpus.Name} with a WordPiece vocabulary of {options.Tokenizer.VocabSize} tokens...");
        var loaded = corpus.Load();
        var tokenizer = WordPieceTokenizer.Train(loaded.Train.Select(d => d.Text), options.Tokenizer.VocabSize, options.Tokenizer.DoLowerCase);
        var result = BertPretrainingPreparer.Prepare(MaskingVocabulary.FromWordPiece(tokenizer), loaded,
            options.Data.ToOptions(nameof(BertPretrainingOptions)), new PrepareOptions(outputDir, Force: true));
        foreach (string line in result.Summary(clock.Elapsed)) log(line);
    }
}

/// <summary>
/// One pre-training run from <see cref="Pretraining"/>: its model, tokenizer, data, objective and trainer. Train it
/// with <see cref="Train"/>; dispose it to release the optimizer and the data (and a temporary data folder).
/// </summary>
public abstract class PretrainingRun : IDisposable
{
    Trainer? trainer;

    private protected PretrainingRun(string dataDirectory, TrainingConfig training)
    {
        DataDirectory = dataDirectory;
        Training = training;
        if (training.Threads > 0) torch.set_num_threads(training.Threads);
    }

    /// <summary>The prepared data folder the run reads.</summary>
    public string DataDirectory { get; }

    /// <summary>The run folder, or null when the run writes no metrics or checkpoints.</summary>
    public string? RunDirectory => Trainer.RunDirectory;

    /// <summary>The checkpoint the run continued from; empty for a resumed run that had none and started again from
    /// step 0; null for a new run.</summary>
    public string? ResumedFrom { get; internal set; }

    /// <summary>The training settings as given (see <see cref="Trainer"/>.Config for those in effect).</summary>
    public TrainingConfig Training { get; }

    /// <summary>The tokenizer the data was prepared with.</summary>
    public abstract ITokenizer Tokenizer { get; }

    /// <summary>The objective the trainer optimises (its Model is the module being trained).</summary>
    public abstract ITrainingObjective Objective { get; }

    /// <summary>The model's config.json, as written in checkpoints.</summary>
    public abstract string ModelConfigJson { get; }

    /// <summary>The trainer: subscribe to its events for progress; the run owns and disposes it.</summary>
    public Trainer Trainer => trainer ?? throw new InvalidOperationException("the run has no trainer yet");

    /// <summary>Changes the trainer made to the training settings (e.g. a warm-up clipped to the run).</summary>
    public IReadOnlyList<string> Warnings => Trainer.Warnings;

    internal string? TemporaryData { get; set; }

    internal void StartTrainer(string? runDirectory, IProcessGroup? group) => trainer = new Trainer(Objective, Training, runDirectory, group);

    /// <summary>Trains to Training.MaxSteps, or until <paramref name="cancellation"/> is cancelled (the current step
    /// finishes and, with a run folder, a checkpoint is written).</summary>
    public TrainingResult Train(CancellationToken cancellation = default) => Trainer.Run(cancellation);

    /// <summary>Three lines describing the data, the model and the training ("data ...", "model ...", "training ...").</summary>
    public abstract IEnumerable<string> Describe();

    private protected abstract void DisposeData();

    /// <summary>Releases the optimizer, the model and the memory-mapped data, and deletes a temporary data folder.</summary>
    public void Dispose()
    {
        trainer?.Dispose();
        DisposeData();
        if (TemporaryData is not null && Directory.Exists(TemporaryData)) Directory.Delete(TemporaryData, recursive: true);
        TemporaryData = null;
        GC.SuppressFinalize(this);
    }
}

/// <summary>A GPT pre-training run (causal language modelling on token windows); see <see cref="Pretraining.Gpt"/>.</summary>
public sealed class GptPretraining : PretrainingRun
{
    readonly PreparedTrainingData data;

    internal GptPretraining(GptPretrainingOptions options, string dataDir) : base(dataDir, options.Training)
    {
        var tokenizer = TokenizerFiles.Load(dataDir);
        RunConfig = new GptRunConfig(options.ModelFor(tokenizer.VocabSize), options.Tokenizer, options.Training);
        Tokenizer = tokenizer;
        var t = options.Training;
        data = new PreparedTrainingData(dataDir, t.BatchSize, t.BlockSize, t.Seed, RunConfig.Model.VocabSize);
        try
        {
            torch.manual_seed(t.Seed);
            Model = new Gpt(RunConfig.Model);
            Objective = new CausalLmObjective(Model, tokenizer, data);
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>The model being trained.</summary>
    public Gpt Model { get; }

    /// <summary>The resolved run config (the model's vocabulary size filled in), as written to run.json.</summary>
    public GptRunConfig RunConfig { get; }

    /// <inheritdoc/>
    public override ITokenizer Tokenizer { get; }

    /// <inheritdoc/>
    public override ITrainingObjective Objective { get; }

    /// <inheritdoc/>
    public override string ModelConfigJson => RunConfig.Model.ToJson();

    /// <summary>The prepared data's manifest (split sizes, tokenizer).</summary>
    public DataManifest Manifest => data.Manifest;

    /// <inheritdoc/>
    public override IEnumerable<string> Describe()
    {
        var m = RunConfig.Model;
        var t = RunConfig.Training;
        yield return $"data      {DataDirectory} ({data.Manifest.Splits[Preparer.TrainSplit].Tokens:N0} train tokens, {Tokenizer.Kind} vocabulary of {Tokenizer.VocabSize})";
        yield return $"model     GPT, {m.NLayer} layers, {m.NHead} heads, n_embd {m.NEmbd}, context {m.NPositions}: {Model.ParameterCount():N0} parameters";
        yield return $"training  {t.MaxSteps} steps of {t.BatchSize * t.GradientAccumulationSteps} x {t.BlockSize} tokens, lr {t.LearningRate} -> {t.MinLr}";
    }

    private protected override void DisposeData()
    {
        data.Dispose();
        Model.Dispose();
    }
}

/// <summary>A BERT pre-training run (masked LM, plus NSP or SOP when the data has pairs); see <see cref="Pretraining.Bert"/>.</summary>
public sealed class BertPretraining : PretrainingRun
{
    readonly MaskedLmData data;
    readonly WordPieceTokenizer tokenizer;

    internal BertPretraining(BertPretrainingOptions options, string dataDir) : base(dataDir, options.Training)
    {
        tokenizer = MaskedLmData.LoadVocabulary(dataDir, "BERT");
        RunConfig = new BertRunConfig(options.ModelFor(tokenizer.VocabSize), options.Tokenizer, options.Data, options.Training);
        data = MaskedLmData.Open(dataDir, tokenizer, RunConfig.Model.MaxPositionEmbeddings, RunConfig.Training);
        try
        {
            torch.manual_seed(RunConfig.Training.Seed);
            Model = new BertForPreTraining(RunConfig.Model);
            Objective = new MaskedLmObjective(Model, tokenizer, data.TrainBatches, data.ValidationBatches);
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>The model being trained (encoder plus MLM and pair heads).</summary>
    public BertForPreTraining Model { get; }

    /// <summary>The resolved run config, as written to run.json.</summary>
    public BertRunConfig RunConfig { get; }

    /// <inheritdoc/>
    public override ITokenizer Tokenizer => tokenizer;

    /// <summary>The WordPiece vocabulary the data was prepared with.</summary>
    public WordPieceTokenizer WordPiece => tokenizer;

    /// <inheritdoc/>
    public override ITrainingObjective Objective { get; }

    /// <inheritdoc/>
    public override string ModelConfigJson => RunConfig.Model.ToJson();

    /// <summary>The training split's manifest (objective, sequence length, masking).</summary>
    public BertDataManifest Manifest => data.Train.Manifest;

    /// <inheritdoc/>
    public override IEnumerable<string> Describe()
    {
        var m = RunConfig.Model;
        var t = RunConfig.Training;
        yield return $"data      {DataDirectory} ({data.Train.Count:N0} train instances, {data.Train.Manifest.Objective}, WordPiece vocabulary of {tokenizer.VocabSize})";
        yield return $"model     BERT{(m.PreLayerNorm ? " (pre-LN)" : "")}, {m.NumHiddenLayers} layers, {m.NumAttentionHeads} heads, hidden {m.HiddenSize}, intermediate {m.IntermediateSize}: {Model.parameters().Sum(p => p.numel()):N0} parameters";
        yield return $"training  {t.MaxSteps} steps of {t.BatchSize * t.GradientAccumulationSteps} sequences of {data.Train.MaxSeqLength}, lr {t.LearningRate} -> {t.MinLr}";
    }

    /// <summary>
    /// Accuracy of always predicting the training split's most frequent non-special token at every masked position of
    /// the first <paramref name="evalIters"/> validation batches: the floor a useful model must clear.
    /// </summary>
    public double UnigramBaseline(int evalIters)
    {
        var counts = new long[tokenizer.VocabSize];
        var vocab = MaskingVocabulary.FromWordPiece(tokenizer);
        for (long i = 0; i < Math.Min(data.Train.Count, 20_000); i++)
            foreach (int id in data.Train[i].Tokens)
                if (!vocab.IsSpecial(id)) counts[id]++;
        int top = Array.IndexOf(counts, counts.Max());
        long hit = 0, total = 0;
        foreach (var b in data.ValidationBatches.Sequential((long)evalIters * data.ValidationBatches.BatchSize))
            foreach (long label in b.MlmLabels)
                if (label != MlmMasker.IgnoreLabel) { total++; if (label == top) hit++; }
        return total == 0 ? double.NaN : (double)hit / total;
    }

    private protected override void DisposeData()
    {
        data.Dispose();
        Model.Dispose();
    }
}
