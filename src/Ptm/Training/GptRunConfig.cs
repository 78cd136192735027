using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ptm.IO;
using Ptm.Modeling;

namespace Ptm.Training;

/// <summary>How to build the tokenizer when a run prepares raw text itself.</summary>
public sealed record TokenizerSpec
{
    /// <summary>"bpe" (byte-level BPE trained on the corpus) or "char".</summary>
    [JsonPropertyName("kind")] public string Kind { get; init; } = "bpe";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 2048;
}

/// <summary>
/// A pre-training run's configuration file: <c>{"model": {GPT-2 config.json fields}, "tokenizer": {...},
/// "training": {...}}</c>. <c>model.vocab_size</c> may be left out; it then follows the tokenizer.
/// </summary>
public sealed record GptRunConfig(GptConfig Model, TokenizerSpec Tokenizer, TrainingConfig Training)
{
    static readonly string[] Sections = ["model", "tokenizer", "training"];

    public static JsonObject ReadNode(string path) => JsonNode.Parse(JsonFiles.ReadObject(path).GetRawText())!.AsObject();

    /// <summary>Applies <c>section.field=value</c> overrides; the value is read as JSON when it parses, else as a string.</summary>
    public static void ApplyOverrides(JsonObject root, IEnumerable<string> assignments)
    {
        foreach (string assignment in assignments)
        {
            int eq = assignment.IndexOf('=');
            string key = eq > 0 ? assignment[..eq] : "";
            string[] path = key.Split('.');
            if (eq <= 0 || path.Length != 2 || !Sections.Contains(path[0]) || path[1].Length == 0)
                throw new InvalidInputException($"--set '{assignment}': expected section.field=value with section one of {string.Join(", ", Sections)}");
            string raw = assignment[(eq + 1)..];
            JsonNode? value;
            try { value = JsonNode.Parse(raw); }
            catch (JsonException) { value = JsonValue.Create(raw); }
            if (root[path[0]] is not JsonObject section) root[path[0]] = section = new JsonObject();
            section[path[1]] = value;
        }
    }

    public static GptRunConfig FromNode(JsonObject root, string source, int? tokenizerVocabSize = null)
    {
        foreach (var (name, _) in root)
            if (!Sections.Contains(name)) throw new InvalidInputException($"{source}: unknown section '{name}' (expected {string.Join(", ", Sections)})");
        var modelNode = (root["model"] as JsonObject)?.DeepClone().AsObject() ?? new JsonObject();
        var tokenizer = Deserialize<TokenizerSpec>(root["tokenizer"], $"{source}: tokenizer");
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

    static T Deserialize<T>(JsonNode? node, string source) where T : new() =>
        node is null ? new T() : JsonFiles.DeserializeStrict<T>(JsonSerializer.SerializeToElement(node), source);

    public JsonObject ToNode() => new()
    {
        ["model"] = JsonSerializer.SerializeToNode(Model, JsonFiles.Indented),
        ["tokenizer"] = JsonSerializer.SerializeToNode(Tokenizer, JsonFiles.Indented),
        ["training"] = JsonSerializer.SerializeToNode(Training, JsonFiles.Indented),
    };
}
