using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ptm.Data;
using Ptm.IO;
using Ptm.Modeling;

namespace Ptm.Training;

/// <summary>The <c>data</c> section of a BERT run: Google's create_pretraining_data flags under their names.</summary>
public sealed record BertDataSpec
{
    /// <summary>Tokens per sequence, [CLS] and [SEP]s included; at most the model's <c>max_position_embeddings</c>.</summary>
    [JsonPropertyName("max_seq_length")] public int MaxSeqLength { get; init; } = 128;
    /// <summary>Probability in [0, 1] that a document pass targets a random shorter length, so the model also sees short inputs.</summary>
    [JsonPropertyName("short_seq_prob")] public double ShortSeqProb { get; init; } = 0.1;
    /// <summary>Passes over the corpus (at least 1), each with its own segmentation, pairing and (static) masks.</summary>
    [JsonPropertyName("dupe_factor")] public int DupeFactor { get; init; } = 5;
    /// <summary>Fraction of a sequence's tokens chosen for masked-LM prediction.</summary>
    [JsonPropertyName("masked_lm_prob")] public double MaskedLmProb { get; init; } = 0.15;
    /// <summary>Most masked-LM predictions per sequence.</summary>
    [JsonPropertyName("max_predictions_per_seq")] public int MaxPredictionsPerSeq { get; init; } = 20;
    /// <summary>Mask all WordPiece pieces of a word together rather than each piece on its own.</summary>
    [JsonPropertyName("whole_word_masking")] public bool WholeWordMasking { get; init; }
    /// <summary>What one masked-LM choice covers: "token", "whole-word", or ERNIE's "phrase" (frequent n-grams by PMI)
    /// or "entity" (capitalised name spans), both learned from the training text; null follows <c>whole_word_masking</c>.</summary>
    [JsonPropertyName("masking_unit")] public string? MaskingUnit { get; init; }
    /// <summary>"nsp" (BERT), "sop" (ALBERT) or "none" (RoBERTa's full sentences, MLM only).</summary>
    [JsonPropertyName("pair_task")] public string PairTask { get; init; } = "nsp";
    /// <summary>"static" (BERT: masks fixed when the data is prepared) or "dynamic" (RoBERTa: new masks every batch).</summary>
    [JsonPropertyName("masking")] public string Masking { get; init; } = "static";
    /// <summary>"lines" (one sentence per line) or "punctuation".</summary>
    [JsonPropertyName("sentences")] public string Sentences { get; init; } = "lines";
    /// <summary>Seed of the pairing, truncation and masking draws.</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; } = 12345;

    /// <summary>The checked <see cref="BertDataOptions"/> these fields describe; <paramref name="source"/> names the config
    /// file in messages.</summary>
    /// <exception cref="InvalidInputException">a choice field is not one of its names, or a value is out of range</exception>
    public BertDataOptions ToOptions(string source)
    {
        T Parse<T>(string field, string value, params (string Name, T Value)[] choices) =>
            choices.FirstOrDefault(c => c.Name == value) is var hit && hit.Name is not null
                ? hit.Value
                : throw new InvalidInputException($"{source}: field 'data.{field}' must be one of {string.Join(", ", choices.Select(c => $"\"{c.Name}\""))} (got \"{value}\")");
        var options = new BertDataOptions(
            MaxSeqLength, ShortSeqProb, DupeFactor,
            Parse("pair_task", PairTask, ("nsp", Data.PairTask.Nsp), ("sop", Data.PairTask.Sop), ("none", Data.PairTask.None)),
            Parse("masking", Masking, ("static", MaskingMode.Static), ("dynamic", MaskingMode.Dynamic)),
            Parse("sentences", Sentences, ("lines", SentenceSplitting.Lines), ("punctuation", SentenceSplitting.Punctuation)),
            (ulong)Seed)
        {
            Mlm = MaskingUnit is null ? new MlmOptions(MaskedLmProb, MaxPredictionsPerSeq, WholeWordMasking) : Parse("masking_unit", MaskingUnit,
                ("token", new MlmOptions(MaskedLmProb, MaxPredictionsPerSeq, false)),
                ("whole-word", new MlmOptions(MaskedLmProb, MaxPredictionsPerSeq, true)),
                ("phrase", new MlmOptions(MaskedLmProb, MaxPredictionsPerSeq, true) { Unit = Data.MaskingUnit.Phrase }),
                ("entity", new MlmOptions(MaskedLmProb, MaxPredictionsPerSeq, true) { Unit = Data.MaskingUnit.Entity })),
        };
        try { options.Validate(); }
        catch (InvalidInputException e) { throw new InvalidInputException($"{source}: data: {e.Message}"); }
        return options;
    }
}

/// <summary>A BERT pre-training run's config: <c>{"model": {BERT config.json fields}, "tokenizer", "data", "training"}</c>.</summary>
public sealed record BertRunConfig(BertConfig Model, TokenizerSpec Tokenizer, BertDataSpec Data, TrainingConfig Training)
{
    static readonly string[] Sections = ["model", "tokenizer", "data", "training"];

    /// <summary>Applies <c>section.field=value</c> overrides to a parsed config before <see cref="FromNode"/>; the
    /// sections are model, tokenizer, data and training (see <see cref="RunConfigFile.ApplyOverrides"/>).</summary>
    /// <exception cref="InvalidInputException">an assignment is not of that form or names another section</exception>
    public static void ApplyOverrides(JsonObject root, IEnumerable<string> assignments) => RunConfigFile.ApplyOverrides(root, assignments, Sections);

    /// <summary>
    /// Reads and checks a parsed run config; <paramref name="source"/> names it in messages. With
    /// <paramref name="tokenizerVocabSize"/> (an existing tokenizer) a missing <c>model.vocab_size</c> follows it and a
    /// smaller one is an error; without it, <c>tokenizer.vocab_size</c>. <c>tokenizer.kind</c> defaults to "wordpiece".
    /// </summary>
    /// <exception cref="InvalidInputException">an unknown section or field, a value out of range, or sections that
    /// disagree (e.g. <c>data.max_seq_length</c> above <c>model.max_position_embeddings</c>)</exception>
    public static BertRunConfig FromNode(JsonObject root, string source, int? tokenizerVocabSize = null)
    {
        RunConfigFile.CheckSections(root, source, Sections);
        var tokenizer = RunConfigFile.Section<TokenizerSpec>(root, "tokenizer", source);
        if (root["tokenizer"]?["kind"] is null) tokenizer = tokenizer with { Kind = "wordpiece" };
        if (tokenizer.Kind != "wordpiece")
            throw new InvalidInputException($"{source}: field 'tokenizer.kind' must be \"wordpiece\" for BERT (got \"{tokenizer.Kind}\")");
        var modelNode = (root["model"] as JsonObject)?.DeepClone().AsObject() ?? new JsonObject();
        modelNode["vocab_size"] ??= tokenizerVocabSize ?? tokenizer.VocabSize;
        var model = BertConfig.FromJson(JsonSerializer.SerializeToElement(modelNode), $"{source}: model");
        if (tokenizerVocabSize is int tv && model.VocabSize < tv)
            throw new InvalidInputException($"{source}: field 'model.vocab_size' ({model.VocabSize}) is smaller than the tokenizer's vocabulary ({tv})");
        var data = RunConfigFile.Section<BertDataSpec>(root, "data", source);
        data.ToOptions(source);
        if (data.MaxSeqLength > model.MaxPositionEmbeddings)
            throw new InvalidInputException($"{source}: field 'data.max_seq_length' ({data.MaxSeqLength}) exceeds 'model.max_position_embeddings' ({model.MaxPositionEmbeddings})");
        var training = TrainingConfig.FromJson(JsonSerializer.SerializeToElement(root["training"] ?? new JsonObject()), $"{source}: training");
        return new BertRunConfig(model, tokenizer, data, training);
    }

    /// <summary>The config as JSON with every field written out, as a run folder records it; <see cref="FromNode"/>
    /// reads it back.</summary>
    public JsonObject ToNode() => new()
    {
        ["model"] = JsonSerializer.SerializeToNode(Model, JsonFiles.Indented),
        ["tokenizer"] = JsonSerializer.SerializeToNode(Tokenizer, JsonFiles.Indented),
        ["data"] = JsonSerializer.SerializeToNode(Data, JsonFiles.Indented),
        ["training"] = JsonSerializer.SerializeToNode(Training, JsonFiles.Indented),
    };
}
