using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ptm.IO;
using Ptm.Modeling;

namespace Ptm.Training;

/// <summary>How to build the tokenizer when a run prepares raw text itself.</summary>
public sealed record TokenizerSpec
{
    /// <summary>"bpe" (byte-level BPE trained on the corpus) or "char" for GPT; "wordpiece" for BERT.</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = "bpe";
    /// <summary>Vocabulary size a "bpe" or "wordpiece" tokenizer is trained to (above 257 for byte-level BPE); a
    /// "char" tokenizer takes the corpus's characters instead.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 2048;
    /// <summary>WordPiece only: lower-case (and strip accents) before splitting, as BERT's uncased models do.</summary>
    [JsonPropertyName("do_lower_case")] public bool DoLowerCase { get; init; } = true;
}

/// <summary>
/// A pre-training run's configuration file: <c>{"model": {GPT-2 config.json fields}, "tokenizer": {...},
/// "training": {...}}</c>. <c>model.vocab_size</c> may be left out; it then follows the tokenizer.
/// </summary>
public sealed record GptRunConfig(GptConfig Model, TokenizerSpec Tokenizer, TrainingConfig Training)
{
    static readonly string[] Sections = ["model", "tokenizer", "training"];

    /// <summary>Applies <c>section.field=value</c> overrides to a parsed config before <see cref="FromNode"/>; the
    /// sections are model, tokenizer and training (see <see cref="RunConfigFile.ApplyOverrides"/>).</summary>
    /// <exception cref="InvalidInputException">an assignment is not of that form or names another section</exception>
    public static void ApplyOverrides(JsonObject root, IEnumerable<string> assignments) => RunConfigFile.ApplyOverrides(root, assignments, Sections);

    /// <summary>
    /// Reads and checks a parsed run config; <paramref name="source"/> names it in messages. With
    /// <paramref name="tokenizerVocabSize"/> (an existing tokenizer) a missing <c>model.vocab_size</c> follows it and a
    /// smaller one is an error; without it, <c>tokenizer.vocab_size</c>.
    /// </summary>
    /// <exception cref="InvalidInputException">an unknown section or field, a value out of range, or sections that
    /// disagree (e.g. <c>training.block_size</c> above <c>model.n_positions</c>)</exception>
    public static GptRunConfig FromNode(JsonObject root, string source, int? tokenizerVocabSize = null)
    {
        RunConfigFile.CheckSections(root, source, Sections);
        var modelNode = (root["model"] as JsonObject)?.DeepClone().AsObject() ?? new JsonObject();
        var tokenizer = RunConfigFile.Section<TokenizerSpec>(root, "tokenizer", source);
        if (tokenizer.Kind is not ("bpe" or "char"))
            throw new InvalidInputException($"{source}: field 'tokenizer.kind' must be \"bpe\" or \"char\" (got \"{tokenizer.Kind}\")");
        if (tokenizer.Kind == "bpe" && tokenizer.VocabSize <= 257)
            throw new InvalidInputException($"{source}: field 'tokenizer.vocab_size' must be above 257 for byte-level BPE (got {tokenizer.VocabSize})");
        if (tokenizerVocabSize is int v)
        {
            if (modelNode["vocab_size"] is null) modelNode["vocab_size"] = v;
        }
        else modelNode["vocab_size"] ??= tokenizer.VocabSize;
        var model = GptConfig.FromJson(JsonSerializer.SerializeToElement(modelNode), $"{source}: model");
        if (tokenizerVocabSize is int tv && model.VocabSize < tv)
            throw new InvalidInputException($"{source}: field 'model.vocab_size' ({model.VocabSize}) is smaller than the tokenizer's vocabulary ({tv})");
        var training = TrainingConfig.FromJson(JsonSerializer.SerializeToElement(root["training"] ?? new JsonObject()), $"{source}: training");
        if (training.BlockSize > model.NPositions)
            throw new InvalidInputException($"{source}: field 'training.block_size' ({training.BlockSize}) exceeds 'model.n_positions' ({model.NPositions})");
        return new GptRunConfig(model, tokenizer, training);
    }

    /// <summary>The config as JSON with every field written out, as a run folder records it; <see cref="FromNode"/>
    /// reads it back.</summary>
    public JsonObject ToNode() => new()
    {
        ["model"] = JsonSerializer.SerializeToNode(Model, JsonFiles.Indented),
        ["tokenizer"] = JsonSerializer.SerializeToNode(Tokenizer, JsonFiles.Indented),
        ["training"] = JsonSerializer.SerializeToNode(Training, JsonFiles.Indented),
    };
}
