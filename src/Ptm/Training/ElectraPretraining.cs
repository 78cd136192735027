using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ptm.Data;
using Ptm.Distributed;
using Ptm.HuggingFace;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;

namespace Ptm.Training;

/// <summary>ELECTRA's own settings, the <c>electra</c> section of a run config.</summary>
public sealed record ElectraSpec
{
    /// <summary><c>generator_size</c>: the generator's hidden size, intermediate size and heads as a fraction of the
    /// discriminator's, in (0, 1]; the paper's best is 1/4 to 1/2.</summary>
    [JsonPropertyName("generator_size")] public double GeneratorSize { get; init; } = 0.25;

    /// <summary><c>rtd_weight</c>: λ, the weight of the replaced-token-detection loss against the generator's MLM loss (the paper's 50).</summary>
    [JsonPropertyName("rtd_weight")] public double RtdWeight { get; init; } = 50;

    /// <summary>The section as JSON with every field written out.</summary>
    public JsonObject ToNode() => JsonSerializer.SerializeToNode(this, JsonFiles.Indented)!.AsObject();
}

/// <summary>
/// Everything an ELECTRA pre-training recipe (<see cref="Pretraining.Electra"/>) can set: the discriminator, vocabulary,
/// data and training settings of BERT pre-training (<see cref="Bert"/>), and ELECTRA's generator size and loss weight.
/// </summary>
public sealed record ElectraPretrainingOptions
{
    /// <summary>The discriminator (<c>Bert.Model</c>), the WordPiece vocabulary, the data (masked-LM instances, as for BERT) and training.</summary>
    public BertPretrainingOptions Bert { get; init; } = new();

    /// <summary>Generator size and RTD weight.</summary>
    public ElectraSpec Electra { get; init; } = new();

    /// <summary>Checks the options before any slow work.</summary>
    /// <exception cref="InvalidInputException">a field is out of range; the message names it</exception>
    public void Validate()
    {
        Bert.Validate();
        if (!(Electra.GeneratorSize > 0 && Electra.GeneratorSize <= 1))
            throw new InvalidOptionException(nameof(ElectraPretrainingOptions), "Electra.GeneratorSize", "must be in (0, 1]", Electra.GeneratorSize);
        if (!(Electra.RtdWeight >= 0) || double.IsInfinity(Electra.RtdWeight))
            throw new InvalidOptionException(nameof(ElectraPretrainingOptions), "Electra.RtdWeight", "must be a finite number >= 0", Electra.RtdWeight);
        ElectraForPreTraining.GeneratorConfigFor(Bert.Model, Electra.GeneratorSize);
    }

    /// <summary>The sections of an ELECTRA run config: BERT's model, tokenizer, data and training, and electra.</summary>
    public static readonly IReadOnlyList<string> Sections = ["model", "tokenizer", "data", "training", "electra"];

    /// <summary>
    /// Reads a parsed run config: the BERT sections as <see cref="BertRunConfig.FromNode"/> does and the optional
    /// <c>electra</c> section (<see cref="ElectraSpec"/>); <paramref name="source"/> names it in messages.
    /// </summary>
    /// <exception cref="InvalidInputException">an unknown section or field, or a value out of range</exception>
    public static ElectraPretrainingOptions FromNode(JsonObject root, string source, bool vocabSizeFromTokenizer)
    {
        RunConfigFile.CheckSections(root, source, Sections);
        var spec = RunConfigFile.Section<ElectraSpec>(root, "electra", source);
        var bertNode = root.DeepClone().AsObject();
        bertNode.Remove("electra");
        var options = new ElectraPretrainingOptions
        {
            Bert = BertPretrainingOptions.From(BertRunConfig.FromNode(bertNode, source), vocabSizeFromTokenizer),
            Electra = spec,
        };
        try { options.Validate(); }
        catch (InvalidOptionException e) { throw new InvalidInputException($"{source}: {e.Message}"); }
        return options;
    }
}

public static partial class Pretraining
{
    /// <summary>
    /// Prepares <paramref name="corpus"/> into masked-LM instances as <see cref="Bert"/> does (unless it is a prepared
    /// BERT folder) and builds an ELECTRA generator and discriminator and their trainer. Checkpoints are BERT model
    /// folders of the discriminator (see <see cref="ElectraObjective.SaveModel"/>) that also hold the whole model in
    /// electra.safetensors, from which <see cref="ResumeElectra"/> continues.
    /// </summary>
    /// <param name="corpus">the text, or a folder prepared for BERT pre-training</param>
    /// <param name="options">discriminator, vocabulary, data, training and ELECTRA settings; null for the defaults</param>
    /// <param name="runFolder">where to keep run.json, data, metrics and checkpoints; null to write nothing lasting</param>
    /// <param name="log">receives one line per preparation step; null for silence</param>
    /// <param name="processGroup">the ranks to train with data-parallel (see the remarks of <see cref="Pretraining"/>); null for one process</param>
    public static ElectraPretraining Electra(PretrainingCorpus corpus, ElectraPretrainingOptions? options = null, RunFolder? runFolder = null,
        Action<string>? log = null, IProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        options ??= new ElectraPretrainingOptions();
        options.Validate();
        Func<string, ElectraPretraining> open = dir => new ElectraPretraining(options, dir);
        return Coordinated(processGroup, runFolder is null,
            () => Start(corpus, runFolder, log, IsPreparedBert, (dir, l) => PrepareBert(corpus, options.Bert, dir, l), open, r => r.RunConfigNode(), processGroup),
            () => Follow(runFolder!.Path, open, processGroup!));
    }

    /// <summary>Continues an ELECTRA run folder from its latest checkpoint (see <see cref="ResumeGpt"/>): generator,
    /// discriminator, optimizer, step, data position and random state, so the continued run equals an uninterrupted one.</summary>
    public static ElectraPretraining ResumeElectra(string runDirectory, ElectraPretrainingOptions? options = null, ResumeOptions? resume = null,
        IProcessGroup? processGroup = null)
    {
        ElectraPretraining Open(bool lead)
        {
            var (node, runFile, dataDir, checkpoint) = OpenForResume(runDirectory, resume: resume ?? new ResumeOptions());
            var resolved = options ?? ElectraPretrainingOptions.FromNode(node, runFile, vocabSizeFromTokenizer: false);
            resolved.Validate();
            return Continue(new ElectraPretraining(resolved, dataDir), runDirectory, runFile, node, checkpoint, r => r.RunConfigNode(), processGroup, lead);
        }
        return Coordinated(processGroup, false, () => Open(lead: true), () => Open(lead: false));
    }

    /// <summary>
    /// Writes the generator of an ELECTRA checkpoint (a run folder's latest, or a checkpoint or saved model folder
    /// holding <see cref="ElectraObjective.ElectraWeightsFile"/>) to <paramref name="to"/> as a masked-LM BERT model
    /// folder: config.json, model.safetensors and the tokenizer files (see <see cref="ElectraGeneratorBert"/>), the same
    /// folder a checkpoint keeps in <see cref="ElectraObjective.GeneratorFolder"/>. Written to a temporary folder and
    /// renamed into place. The generator size comes from the weights file's metadata, or, for files without it, from
    /// the generator's width over the discriminator's.
    /// </summary>
    /// <exception cref="InvalidInputException">the folder is not an ELECTRA checkpoint, a generator tensor is missing or
    /// mis-shaped, or <paramref name="to"/> is a file or a non-empty folder</exception>
    public static void ExportElectraGenerator(string runOrCheckpoint, string to)
    {
        string dir = Checkpoints.ResolveModelDirectory(runOrCheckpoint);
        string weights = ElectraObjective.RequireWeightsFile(dir);
        var config = BertConfig.Load(Path.Combine(dir, ModelFolder.ConfigFile));
        var tokenizer = ModelFolder.LoadWordPiece(dir, config.VocabSize);
        using var file = SafeTensorsFile.Open(weights);
        var generatorConfig = ElectraForPreTraining.GeneratorConfigFor(config, GeneratorSizeOf(file, config));
        using var generator = ElectraGeneratorBert.Build(generatorConfig,
            name => file.Contains(name) ? (file.GetInfo(name).Shape, dtype => file.Load(name, dtype)) : null, weights);
        StagedDirectory.Create(to, temp => ModelFolder.SaveModel(temp, generator, tokenizer));
    }

    static double GeneratorSizeOf(SafeTensorsFile file, BertConfig config)
    {
        const string key = ElectraObjective.GeneratorSizeMetadata;
        if (file.Metadata.TryGetValue(key, out string? text))
            return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double size) ? size
                : throw new InvalidInputException($"{file.Path}: metadata '{key}' must be a number (got \"{text}\")");
        // The width ratio reproduces the generator's hidden size exactly; its head count too whenever the size times
        // the discriminator's width was a whole number (as for the default 1/4 of 256).
        const string query = "generator.encoder.layer.0.attention.self.query.weight";
        if (!file.Contains(query)) throw new InvalidInputException($"{file.Path}: no tensor '{query}'; not an ELECTRA checkpoint with a generator");
        return (double)file.GetInfo(query).Shape[0] / config.HiddenSize;
    }
}

/// <summary>An ELECTRA pre-training run (generator MLM + discriminator replaced-token detection); see <see cref="Pretraining.Electra"/>.</summary>
public sealed class ElectraPretraining : PretrainingRun
{
    readonly MaskedLmData data;
    readonly WordPieceTokenizer tokenizer;
    readonly ElectraSpec electra;

    internal ElectraPretraining(ElectraPretrainingOptions options, string dataDir) : base(dataDir, options.Bert.Training)
    {
        tokenizer = MaskedLmData.LoadVocabulary(dataDir, "ELECTRA");
        var bert = options.Bert;
        RunConfig = new BertRunConfig(bert.ModelFor(tokenizer.VocabSize), bert.Tokenizer, bert.Data, bert.Training);
        electra = options.Electra;
        data = MaskedLmData.Open(dataDir, tokenizer, RunConfig.Model.MaxPositionEmbeddings, RunConfig.Training);
        try
        {
            torch.manual_seed(RunConfig.Training.Seed);
            Model = new ElectraForPreTraining(RunConfig.Model, electra.GeneratorSize);
            Objective = new ElectraObjective(Model, tokenizer, data.TrainBatches, data.ValidationBatches, electra.RtdWeight);
        }
        catch
        {
            data.Dispose();
            throw;
        }
    }

    /// <summary>The generator and discriminator being trained.</summary>
    public ElectraForPreTraining Model { get; }

    /// <summary>The discriminator's run config (model, tokenizer, data, training), as written to run.json with the <c>electra</c> section.</summary>
    public BertRunConfig RunConfig { get; }

    /// <summary>run.json's contents: the BERT sections and <c>electra</c>.</summary>
    public JsonObject RunConfigNode()
    {
        var node = RunConfig.ToNode();
        node["electra"] = electra.ToNode();
        return node;
    }

    /// <inheritdoc/>
    public override ITokenizer Tokenizer => tokenizer;

    /// <summary>The WordPiece vocabulary the data was prepared with.</summary>
    public WordPieceTokenizer WordPiece => tokenizer;

    /// <inheritdoc/>
    public override ITrainingObjective Objective { get; }

    /// <inheritdoc/>
    public override string ModelConfigJson => RunConfig.Model.ToJson();

    /// <inheritdoc/>
    public override IEnumerable<string> Describe()
    {
        var m = RunConfig.Model;
        var g = Model.GeneratorConfig;
        var t = RunConfig.Training;
        long all = Model.parameters().Sum(p => p.numel());
        long generator = Model.named_parameters().Where(p => p.name.StartsWith("generator.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        yield return $"data      {DataDirectory} ({data.Train.Count:N0} train instances, {data.Train.Manifest.Objective}, WordPiece vocabulary of {tokenizer.VocabSize})";
        yield return $"model     ELECTRA discriminator {m.NumHiddenLayers} layers, {m.NumAttentionHeads} heads, hidden {m.HiddenSize}; generator hidden {g.HiddenSize}, {g.NumAttentionHeads} heads, "
            + $"intermediate {g.IntermediateSize}; {all:N0} parameters ({generator:N0} generator-only), RTD weight {electra.RtdWeight}";
        yield return $"training  {t.MaxSteps} steps of {t.BatchSize * t.GradientAccumulationSteps} sequences of {data.Train.MaxSeqLength}, lr {t.LearningRate} -> {t.MinLr}";
    }

    private protected override void DisposeData()
    {
        data.Dispose();
        Model.Dispose();
    }
}
