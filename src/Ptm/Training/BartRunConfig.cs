using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ptm.Data;
using Ptm.IO;
using Ptm.Modeling;

namespace Ptm.Training;

/// <summary>The <c>data</c> section of a denoising (BART) run: how sequences are cut and how they are noised.</summary>
public sealed record BartDataSpec
{
    /// <summary>Tokens per sequence, &lt;s&gt; and &lt;/s&gt; included; whole sentences are packed up to it. At most the
    /// model's <c>max_position_embeddings</c>.</summary>
    [JsonPropertyName("max_seq_length")] public int MaxSeqLength { get; init; } = 128;
    /// <summary>"lines" (one sentence per line, as data/kjv) or "punctuation".</summary>
    [JsonPropertyName("sentences")] public string Sentences { get; init; } = "lines";
    /// <summary>Text infilling: share of tokens covered by masked spans (BART: 0.3).</summary>
    [JsonPropertyName("mask_ratio")] public double MaskRatio { get; init; } = 0.3;
    /// <summary>Text infilling: mean span length λ of the Poisson distribution (BART: 3).</summary>
    [JsonPropertyName("poisson_lambda")] public double PoissonLambda { get; init; } = 3.0;
    /// <summary>Sentence permutation: shuffle each sequence's sentences before infilling.</summary>
    [JsonPropertyName("permute_sentences")] public bool PermuteSentences { get; init; } = true;
    /// <summary>Token deletion: probability that each token is dropped before infilling; 0 turns it off.</summary>
    [JsonPropertyName("delete_ratio")] public double DeleteRatio { get; init; }
    /// <summary>Seed of the noise and of the order of the sequences.</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; } = 12345;

    /// <summary>The noising options these fields describe.</summary>
    public DenoisingOptions ToNoise() => new(MaskRatio, PoissonLambda, PermuteSentences, DeleteRatio);

    /// <summary>How sentences are split.</summary>
    /// <exception cref="InvalidInputException"><c>sentences</c> is neither name</exception>
    public SentenceSplitting Splitting(string source) => Sentences switch
    {
        "lines" => SentenceSplitting.Lines,
        "punctuation" => SentenceSplitting.Punctuation,
        _ => throw new InvalidInputException($"{source}: field 'data.sentences' must be \"lines\" or \"punctuation\" (got \"{Sentences}\")"),
    };

    /// <summary>Checks every field; messages name <paramref name="source"/> and the field.</summary>
    /// <exception cref="InvalidInputException">a field is out of range</exception>
    public void Validate(string source)
    {
        Splitting(source);
        if (MaxSeqLength < 3) throw new InvalidInputException($"{source}: field 'data.max_seq_length' must be at least 3 (got {MaxSeqLength})");
        if (!(MaskRatio is >= 0 and < 1)) throw new InvalidInputException($"{source}: field 'data.mask_ratio' must be in [0, 1) (got {MaskRatio})");
        if (!(PoissonLambda > 0 && PoissonLambda <= 50)) throw new InvalidInputException($"{source}: field 'data.poisson_lambda' must be in (0, 50] (got {PoissonLambda})");
        if (!(DeleteRatio is >= 0 and < 1)) throw new InvalidInputException($"{source}: field 'data.delete_ratio' must be in [0, 1) (got {DeleteRatio})");
    }
}

/// <summary>A denoising (BART) pre-training run's config: <c>{"model": {BART config.json fields}, "tokenizer", "data", "training"}</c>.
/// The tokenizer is byte-level BPE with BART's specials; <c>model.vocab_size</c> follows it when left out.</summary>
public sealed record BartRunConfig(BartConfig Model, TokenizerSpec Tokenizer, BartDataSpec Data, TrainingConfig Training)
{
    /// <summary>The config file's sections.</summary>
    public static readonly IReadOnlyList<string> Sections = ["model", "tokenizer", "data", "training"];

    /// <summary>Applies <c>section.field=value</c> overrides to a parsed config before <see cref="FromNode"/>.</summary>
    /// <exception cref="InvalidInputException">an assignment is not of that form or names another section</exception>
    public static void ApplyOverrides(JsonObject root, IEnumerable<string> assignments) => RunConfigFile.ApplyOverrides(root, assignments, [.. Sections]);

    /// <summary>
    /// Reads and checks a parsed run config; <paramref name="source"/> names it in messages. With
    /// <paramref name="tokenizerVocabSize"/> a missing <c>model.vocab_size</c> follows it; without, <c>tokenizer.vocab_size</c>.
    /// </summary>
    /// <exception cref="InvalidInputException">an unknown section or field, a value out of range, or sections that disagree</exception>
    public static BartRunConfig FromNode(JsonObject root, string source, int? tokenizerVocabSize = null)
    {
        RunConfigFile.CheckSections(root, source, [.. Sections]);
        var tokenizer = RunConfigFile.Section<TokenizerSpec>(root, "tokenizer", source);
        if (tokenizer.Kind != "bpe")
            throw new InvalidInputException($"{source}: field 'tokenizer.kind' must be \"bpe\" for an encoder-decoder model (got \"{tokenizer.Kind}\")");
        if (tokenizer.VocabSize <= 256 + 5)
            throw new InvalidInputException($"{source}: field 'tokenizer.vocab_size' must be above 261 (256 bytes and BART's 5 specials) (got {tokenizer.VocabSize})");
        var modelNode = (root["model"] as JsonObject)?.DeepClone().AsObject() ?? new JsonObject();
        modelNode["vocab_size"] ??= tokenizerVocabSize ?? tokenizer.VocabSize;
        var model = BartConfig.FromJson(JsonSerializer.SerializeToElement(modelNode), $"{source}: model");
        if (tokenizerVocabSize is int tv && model.VocabSize < tv)
            throw new InvalidInputException($"{source}: field 'model.vocab_size' ({model.VocabSize}) is smaller than the tokenizer's vocabulary ({tv})");
        var data = RunConfigFile.Section<BartDataSpec>(root, "data", source);
        data.Validate(source);
        if (data.MaxSeqLength > model.MaxPositionEmbeddings)
            throw new InvalidInputException($"{source}: field 'data.max_seq_length' ({data.MaxSeqLength}) exceeds 'model.max_position_embeddings' ({model.MaxPositionEmbeddings})");
        var training = TrainingConfig.FromJson(JsonSerializer.SerializeToElement(root["training"] ?? new JsonObject()), $"{source}: training");
        return new BartRunConfig(model, tokenizer, data, training);
    }

    /// <summary>The config as JSON with every field written out, as a run folder records it; <see cref="FromNode"/> reads it back.</summary>
    public JsonObject ToNode() => new()
    {
        ["model"] = JsonNode.Parse(Model.ToJson()),
        ["tokenizer"] = JsonSerializer.SerializeToNode(Tokenizer, JsonFiles.Indented),
        ["data"] = JsonSerializer.SerializeToNode(Data, JsonFiles.Indented),
        ["training"] = JsonSerializer.SerializeToNode(Training, JsonFiles.Indented),
    };
}

/// <summary>
/// Everything a denoising pre-training recipe (<see cref="Pretraining.Bart"/>) can set: the encoder–decoder, a
/// byte-level BPE vocabulary with BART's specials trained on the corpus, the noise and the training settings.
/// </summary>
public sealed record BartPretrainingOptions
{
    /// <summary>The model's config.json fields. Default: BART-large's shape (BartConfig's defaults); set a small one.</summary>
    public BartConfig Model { get; init; } = new();

    /// <summary>The vocabulary's size (Kind must be "bpe"); ignored for a prepared folder.</summary>
    public TokenizerSpec Tokenizer { get; init; } = new() { Kind = "bpe", VocabSize = 4096 };

    /// <summary>Sequence length and noise.</summary>
    public BartDataSpec Data { get; init; } = new();

    /// <summary>Optimisation settings, checked by <see cref="Trainer"/>.</summary>
    public TrainingConfig Training { get; init; } = new();

    /// <summary>When true (default), <c>Model.VocabSize</c> becomes the trained vocabulary's size; when false it is
    /// kept and must be at least the vocabulary's.</summary>
    public bool VocabSizeFromTokenizer { get; init; } = true;

    /// <summary>Checks the options before any slow work.</summary>
    /// <exception cref="InvalidInputException">a field is out of range; the message names it</exception>
    public void Validate()
    {
        const string Type = nameof(BartPretrainingOptions);
        if (Tokenizer.Kind != "bpe")
            throw new InvalidOptionException(Type, "Tokenizer.Kind", "must be \"bpe\" for an encoder-decoder model", $"\"{Tokenizer.Kind}\"");
        if (Tokenizer.VocabSize <= 256 + 5)
            throw new InvalidOptionException(Type, "Tokenizer.VocabSize", "must be above 261 (256 bytes and BART's 5 specials)", Tokenizer.VocabSize);
        Model.Validate($"{Type}.Model");
        Data.Validate(Type);
        Data.ToNoise().Validate();
        if (Data.MaxSeqLength > Model.MaxPositionEmbeddings)
            throw new InvalidOptionException(Type, "Data.MaxSeqLength", $"must be at most Model.MaxPositionEmbeddings ({Model.MaxPositionEmbeddings})", Data.MaxSeqLength);
        Training.Validate();
    }

    internal BartConfig ModelFor(int tokenizerVocabSize)
    {
        if (VocabSizeFromTokenizer) return Model with { VocabSize = tokenizerVocabSize };
        if (Model.VocabSize < tokenizerVocabSize)
            throw new InvalidOptionException(nameof(BartPretrainingOptions), "Model.VocabSize", $"must be at least the tokenizer's vocabulary ({tokenizerVocabSize})", Model.VocabSize);
        return Model;
    }

    /// <summary>Options from a run config, e.g. a run.json read with <see cref="BartRunConfig.FromNode"/>.</summary>
    public static BartPretrainingOptions From(BartRunConfig run, bool vocabSizeFromTokenizer) => new()
    {
        Model = run.Model, Tokenizer = run.Tokenizer, Data = run.Data, Training = run.Training, VocabSizeFromTokenizer = vocabSizeFromTokenizer,
    };
}
