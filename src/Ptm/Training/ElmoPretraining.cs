using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ptm.Distributed;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;

namespace Ptm.Training;

/// <summary>The <c>vocabulary</c> section of an ELMo run config: how the softmax vocabulary is built.</summary>
public sealed record ElmoVocabularySpec
{
    /// <summary><c>size</c>: softmax rows, the three specials plus the training split's most frequent words.</summary>
    [JsonPropertyName("size")] public int Size { get; init; } = 8000;
}

/// <summary>
/// Everything an ELMo pre-training recipe (<see cref="Pretraining.Elmo"/>) can set: the biLM (<see cref="Model"/>;
/// its <c>vocab_size</c> follows the vocabulary built from the corpus), the vocabulary size, and training (windows of
/// <see cref="TrainingConfig.BlockSize"/> tokens; the LSTMs have no context limit).
/// </summary>
public sealed record ElmoPretrainingOptions
{
    /// <summary>The sections of an ELMo run config.</summary>
    public static readonly IReadOnlyList<string> Sections = ["model", "vocabulary", "training"];

    /// <summary>The model's config.json fields; <c>VocabSize</c> is replaced by the vocabulary's size.</summary>
    public ElmoConfig Model { get; init; } = new();

    /// <summary>The softmax vocabulary's size; ignored for a prepared folder, which has its own.</summary>
    public ElmoVocabularySpec Vocabulary { get; init; } = new();

    /// <summary>Optimisation settings, checked by <see cref="Trainer"/>.</summary>
    public TrainingConfig Training { get; init; } = new();

    /// <summary>Checks the options before any slow work.</summary>
    /// <exception cref="InvalidInputException">a field is out of range; the message names it</exception>
    public void Validate()
    {
        const string Type = nameof(ElmoPretrainingOptions);
        if (Vocabulary.Size <= ElmoVocabulary.SpecialCount)
            throw new InvalidOptionException(Type, "Vocabulary.Size", $"must be above {ElmoVocabulary.SpecialCount} (the specials and at least one word)", Vocabulary.Size);
        (Model with { VocabSize = Math.Max(Model.VocabSize, ElmoVocabulary.SpecialCount + 1) }).Validate($"{Type}.Model");
        Training.Validate();
        if (Training.BlockSize < 2) throw new InvalidOptionException(Type, "Training.BlockSize", "must be at least 2 (a window needs a token to predict from)", Training.BlockSize);
    }

    /// <summary>
    /// Reads a parsed run config (<c>{"model": {...}, "vocabulary": {"size": n}, "training": {...}}</c>);
    /// <paramref name="source"/> names it in messages. <c>model.vocab_size</c> may be left out.
    /// </summary>
    /// <exception cref="InvalidInputException">an unknown section or field, or a value out of range</exception>
    public static ElmoPretrainingOptions FromNode(JsonObject root, string source)
    {
        RunConfigFile.CheckSections(root, source, Sections);
        var modelNode = (root["model"] as JsonObject)?.DeepClone().AsObject() ?? new JsonObject();
        modelNode["model_type"] ??= ModelFamily.Elmo.ModelType;
        var vocabulary = RunConfigFile.Section<ElmoVocabularySpec>(root, "vocabulary", source);
        modelNode["vocab_size"] ??= vocabulary.Size;
        var model = ElmoConfig.FromJson(JsonSerializer.SerializeToElement(modelNode), $"{source}: model");
        var training = TrainingConfig.FromJson(JsonSerializer.SerializeToElement(root["training"] ?? new JsonObject()), $"{source}: training");
        var options = new ElmoPretrainingOptions { Model = model, Vocabulary = vocabulary, Training = training };
        try { options.Validate(); }
        catch (InvalidOptionException e) { throw new InvalidInputException($"{source}: {e.Message}"); }
        return options;
    }

    /// <summary>The options as a run config, every field written out; <see cref="FromNode"/> reads it back.</summary>
    public JsonObject ToNode() => new()
    {
        ["model"] = JsonSerializer.SerializeToNode(Model, JsonFiles.Indented),
        ["vocabulary"] = JsonSerializer.SerializeToNode(Vocabulary, JsonFiles.Indented),
        ["training"] = JsonSerializer.SerializeToNode(Training, JsonFiles.Indented),
    };
}

public static partial class Pretraining
{
    /// <summary>
    /// Splits <paramref name="corpus"/> into words and sentences and builds the softmax vocabulary (unless it is a folder
    /// prepared for ELMo), then builds the biLM and its trainer. Checkpoints are ELMo model folders (<see cref="ElmoFolder"/>).
    /// </summary>
    /// <param name="corpus">the text (one sentence per line), or a folder prepared for ELMo</param>
    /// <param name="options">model, vocabulary and training settings; null for the defaults</param>
    /// <param name="runFolder">where to keep run.json, data, metrics and checkpoints; null to write nothing lasting</param>
    /// <param name="log">receives one line per preparation step; null for silence</param>
    /// <param name="processGroup">the ranks to train with data-parallel (see the remarks of <see cref="Pretraining"/>); null for one process</param>
    public static ElmoPretraining Elmo(PretrainingCorpus corpus, ElmoPretrainingOptions? options = null, RunFolder? runFolder = null,
        Action<string>? log = null, IProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        options ??= new ElmoPretrainingOptions();
        options.Validate();
        Func<string, ElmoPretraining> open = dir => new ElmoPretraining(options, dir);
        return Coordinated(processGroup, runFolder is null,
            () => Start(corpus, runFolder, log, IsPreparedElmo, (dir, l) => PrepareElmo(corpus, options, dir, l), open, r => r.Options.ToNode(), processGroup),
            () => Follow(runFolder!.Path, open, processGroup!));
    }

    /// <summary>Continues an ELMo run folder from its latest checkpoint (see <see cref="ResumeGpt"/>).</summary>
    public static ElmoPretraining ResumeElmo(string runDirectory, ElmoPretrainingOptions? options = null, ResumeOptions? resume = null,
        IProcessGroup? processGroup = null)
    {
        ElmoPretraining Open(bool lead)
        {
            var (node, runFile, dataDir, checkpoint) = OpenForResume(runDirectory, resume: resume ?? new ResumeOptions());
            var resolved = options ?? ElmoPretrainingOptions.FromNode(node, runFile);
            resolved.Validate();
            return Continue(new ElmoPretraining(resolved, dataDir), runDirectory, runFile, node, checkpoint, r => r.Options.ToNode(), processGroup, lead);
        }
        return Coordinated(processGroup, false, () => Open(lead: true), () => Open(lead: false));
    }

    /// <summary>Whether <paramref name="corpus"/> is a folder prepared for ELMo; a folder prepared for GPT or BERT is an error.</summary>
    public static bool IsPreparedElmo(PretrainingCorpus corpus)
    {
        if (corpus.Path is null || corpus.ValidationPath is not null || !Directory.Exists(corpus.Path)) return false;
        if (ElmoData.IsPrepared(corpus.Path)) return true;
        if (corpus.IsPreparedFolder)
            throw new InvalidInputException($"{corpus.Path}: holds data prepared for GPT or BERT; ELMo pre-training needs raw text or a folder it prepared ({ElmoData.ManifestFile})");
        return false;
    }

    static void PrepareElmo(PretrainingCorpus corpus, ElmoPretrainingOptions options, string outputDir, Action<string> log)
    {
        log($"preparing {corpus.Name} as words, with a softmax vocabulary of up to {options.Vocabulary.Size} words...");
        var clock = Stopwatch.StartNew();
        var m = ElmoData.Prepare(corpus.Load(), corpus.Name, options.Vocabulary.Size, outputDir);
        log($"  train {m.TrainTokens:N0} tokens, validation {m.ValidationTokens:N0} tokens, {m.Types:N0} word types, "
            + $"vocabulary {m.VocabSize:N0} ({m.ValidationUnkRate:P1} of validation words <unk>) in {clock.Elapsed.TotalSeconds:F1}s");
    }
}

/// <summary>An ELMo pre-training run (forward and backward LSTM language models); see <see cref="Pretraining.Elmo"/>.</summary>
public sealed class ElmoPretraining : PretrainingRun
{
    readonly ElmoData data;

    internal ElmoPretraining(ElmoPretrainingOptions options, string dataDir) : base(dataDir, options.Training)
    {
        data = ElmoData.Open(dataDir);
        Options = options with { Model = options.Model with { VocabSize = data.Vocabulary.VocabSize } };
        torch.manual_seed(options.Training.Seed);
        Model = new ElmoBiLm(Options.Model);
        Objective = new ElmoObjective(Model, data, Options.Training);
    }

    /// <summary>The resolved options (the model's vocabulary size filled in), as written to run.json.</summary>
    public ElmoPretrainingOptions Options { get; }

    /// <summary>The biLM being trained.</summary>
    public ElmoBiLm Model { get; }

    /// <summary>The prepared data: streams, word types and vocabulary.</summary>
    public ElmoData Data => data;

    /// <inheritdoc/>
    public override ITokenizer Tokenizer => data.Vocabulary;

    /// <inheritdoc/>
    public override ITrainingObjective Objective { get; }

    /// <inheritdoc/>
    public override string ModelConfigJson => Options.Model.ToJson();

    /// <inheritdoc/>
    public override IEnumerable<string> Describe()
    {
        var m = Options.Model;
        var t = Options.Training;
        yield return $"data      {DataDirectory} ({data.Manifest.TrainTokens:N0} train tokens, {data.Manifest.Types:N0} word types, softmax vocabulary of {data.Vocabulary.VocabSize})";
        yield return $"model     ELMo biLM, char-CNN {string.Join(" ", m.Filters.Select(f => $"{f[0]}x{f[1]}"))} + {m.NHighway} highway -> {m.ProjectionDim}; "
            + $"{m.NLayers} LSTM layers of {m.LstmDim} -> {m.ProjectionDim} per direction: {Model.ParameterCount():N0} parameters";
        yield return $"training  {t.MaxSteps} steps of {t.BatchSize * t.GradientAccumulationSteps} x {t.BlockSize} tokens, lr {t.LearningRate} -> {t.MinLr}";
    }

    private protected override void DisposeData() => Model.Dispose();
}
