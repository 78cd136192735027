using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ptm.IO;
using Ptm.Modeling;

namespace Ptm.HuggingFace;

/// <summary>
/// A Hugging Face <c>config.json</c>: the typed config for the fields our models implement, plus every other
/// field kept verbatim in <see cref="Extra"/> so that an export writes back what an import read.
/// Our own run configs stay strict (<see cref="GptConfig.Load"/> rejects unknown fields, to catch typos);
/// a config written by another tool is expected to carry fields we do not model, so here they are set aside.
/// </summary>
public sealed class HfConfig
{
    HfConfig(string modelType, IReadOnlyList<string> architectures, GptConfig? gpt, BertConfig? bert, JsonObject extra, BartConfig? bart = null)
    {
        Bart = bart;
        ModelType = modelType;
        Architectures = architectures;
        Gpt = gpt;
        Bert = bert;
        Extra = extra;
    }

    /// <summary>config.json's <c>model_type</c> ("gpt2", "bert"), which says which typed config holds the fields.</summary>
    public string ModelType { get; }

    /// <summary>The <c>architectures</c> list as written (e.g. GPT2LMHeadModel, BertForMaskedLM); may be empty.</summary>
    public IReadOnlyList<string> Architectures { get; }

    /// <summary>The fields as a GPT config, when <see cref="ModelType"/> is "gpt2".</summary>
    public GptConfig? Gpt { get; }
    /// <summary>The fields as a BERT config, when <see cref="ModelType"/> is "bert".</summary>
    public BertConfig? Bert { get; }

    /// <summary>The fields as an encoder–decoder config, when <see cref="ModelType"/> is "bart" or "mbart".</summary>
    public BartConfig? Bart { get; }

    /// <summary>Fields the typed config does not hold (task_specific_params, id2label, transformers_version, ...).</summary>
    public JsonObject Extra { get; }

    /// <summary>Settings HF models support but ours do not compute; importing them silently would give wrong outputs.</summary>
    static readonly (string Field, Func<JsonNode?, bool> Unsupported, string Why)[] GptRejected =
    [
        ("scale_attn_weights", v => v?.GetValueKind() == JsonValueKind.False, "attention scores are always scaled by 1/√head_size here"),
        ("scale_attn_by_inverse_layer_idx", v => v?.GetValueKind() == JsonValueKind.True, "per-layer attention scaling is not implemented"),
        ("add_cross_attention", v => v?.GetValueKind() == JsonValueKind.True, "cross-attention (encoder-decoder use) is not implemented"),
    ];

    static readonly (string Field, Func<JsonNode?, bool> Unsupported, string Why)[] BertRejected =
    [
        ("is_decoder", v => v?.GetValueKind() == JsonValueKind.True, "BERT as a causal decoder is not implemented"),
        ("add_cross_attention", v => v?.GetValueKind() == JsonValueKind.True, "cross-attention (encoder-decoder use) is not implemented"),
    ];

    static readonly (string Field, Func<JsonNode?, bool> Unsupported, string Why)[] BartRejected =
    [
        ("add_bias_logits", v => v?.GetValueKind() == JsonValueKind.True, "a separate LM-head bias is not implemented (final_logits_bias is)"),
        ("static_position_embeddings", v => v?.GetValueKind() == JsonValueKind.True, "sinusoidal positions are not implemented (BART's are learned)"),
        ("normalize_embedding", v => v?.GetValueKind() == JsonValueKind.False, "BART's layernorm_embedding is always applied here"),
        ("extra_pos_embeddings", v => v is JsonValue n && n.GetValueKind() == JsonValueKind.Number && n.GetValue<double>() != BartConfig.PositionOffset, "position tables are offset by 2, as in BART"),
    ];

    static readonly string[] GptRequired = ["n_embd", "n_layer", "n_head"];
    static readonly string[] BertRequired = ["hidden_size", "num_hidden_layers", "num_attention_heads"];
    static readonly string[] BartRequired = ["d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads"];

    /// <summary>config.json fields only Ptm writes (a Hugging Face config never has them, an export leaves them out):
    /// their presence marks a Ptm model folder.</summary>
    internal static readonly string[] PtmOnlyFields = ["pre_layer_norm", "share_layers", "embedding_size"];

    /// <summary>Reads and checks the config.json at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing or malformed, names an unknown model_type, or asks for a setting Ptm does not compute; the message names the file and field.</exception>
    public static HfConfig Load(string path) => Parse(JsonFiles.ReadObject(path), path);

    /// <summary>Checks a config.json already read; <paramref name="source"/> names it in messages.</summary>
    public static HfConfig Parse(JsonElement root, string source)
    {
        JsonObject all;
        try { all = JsonObject.Create(root) ?? throw new InvalidInputException($"{source}: expected a JSON object"); }
        catch (ArgumentException e) // a property repeated in one object (JsonFiles.ReadObject refuses those already)
        {
            throw new InvalidInputException($"{source}: {e.Message.Split('\n')[0]}", e);
        }
        string modelType = all["model_type"] is JsonValue t && t.GetValueKind() == JsonValueKind.String
            ? t.GetValue<string>()
            : throw new InvalidInputException($"{source}: missing string field 'model_type' (expected {ModelFamilies.Expected})");
        var architectures = ReadArchitectures(all, source);
        foreach (string field in PtmOnlyFields)
            if (all.ContainsKey(field))
                throw new InvalidInputException($"{source}: field '{field}' is a Ptm setting, not a Hugging Face one; this folder is a Ptm model folder, load it directly");
        if (!ModelFamilies.TryParse(modelType, out var family))
            throw new InvalidInputException($"{source}: model_type \"{modelType}\" is not supported (supported: {ModelFamilies.Expected.Replace(" or ", ", ")})");
        // Hugging Face's classes default these to the base model's sizes; a config.json without them is far more likely
        // damaged than meant, and taking the defaults turns that into a weight-shape error far from the cause.
        foreach (string field in family switch { ModelFamily.Gpt2 => GptRequired, ModelFamily.Bart => BartRequired, _ => BertRequired })
            if (!all.ContainsKey(field))
                throw new InvalidInputException($"{source}: missing field '{field}' (the model's {(field is "n_embd" or "hidden_size" or "d_model" ? "width" : field.Contains("layer") ? "number of layers" : "number of attention heads")}); no default is assumed");
        var config = family switch
        {
            ModelFamily.Gpt2 => Typed(all, source, GptRejected, (e, s) => GptConfig.FromJson(e, s), typeof(GptConfig),
                (extra, c) => new HfConfig(modelType, architectures, c, null, extra)),
            ModelFamily.Bart => ParseBart(all, source, modelType, architectures),
            _ => Typed(all, source, BertRejected, (e, s) => BertConfig.FromJson(e, s), typeof(BertConfig),
                (extra, c) => new HfConfig(modelType, architectures, null, c, extra)),
        };
        // The embedding matrix is vocab_size rows: refuse a hostile size here rather than fail allocating it.
        if ((config.Gpt?.VocabSize ?? config.Bert?.VocabSize) is int vocab && vocab > Tokenization.TokenizerFiles.MaxVocabularySize)
            throw new InvalidInputException($"{source}: field 'vocab_size' = {vocab} is over the limit of {Tokenization.TokenizerFiles.MaxVocabularySize} (TokenizerFiles.MaxVocabularySize)");
        return config;
    }

    static HfConfig ParseBart(JsonObject all, string source, string modelType, IReadOnlyList<string> architectures)
    {
        // Older BART configs say whether the layers are pre-LN twice; the final LayerNorms come with pre-LN here.
        if (all.TryGetPropertyValue("add_final_layer_norm", out var final) && final?.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
        {
            bool pre = all.TryGetPropertyValue("normalize_before", out var nb) ? nb?.GetValueKind() == JsonValueKind.True : modelType == BartConfig.MBartModelType;
            if ((final.GetValueKind() == JsonValueKind.True) != pre)
                throw new InvalidInputException($"{source}: field 'add_final_layer_norm' = {final.ToJsonString()} is not supported with normalize_before = {pre.ToString().ToLowerInvariant()} (final LayerNorms come exactly with pre-LN layers here)");
        }
        return Typed(all, source, BartRejected, (e, s) => BartConfig.FromJson(e, s), typeof(BartConfig),
            (extra, c) => new HfConfig(modelType, architectures, null, null, extra, c));
    }

    static HfConfig Typed<T>(JsonObject all, string source, (string Field, Func<JsonNode?, bool> Unsupported, string Why)[] rejected,
        Func<JsonElement, string, T> parse, Type type, Func<JsonObject, T, HfConfig> make)
    {
        foreach (var (field, unsupported, why) in rejected)
            if (all.TryGetPropertyValue(field, out var value) && unsupported(value))
                throw new InvalidInputException($"{source}: field '{field}' = {value?.ToJsonString()} is not supported ({why})");
        var known = KnownFields(type);
        var typed = new JsonObject();
        var extra = new JsonObject();
        foreach (var (name, value) in all)
            (known.Contains(name) ? typed : extra)[name] = value?.DeepClone();
        var config = parse(JsonSerializer.SerializeToElement(typed), source);
        return make(extra, config);
    }

    static IReadOnlyList<string> ReadArchitectures(JsonObject all, string source)
    {
        if (!all.TryGetPropertyValue("architectures", out var node) || node is null) return [];
        if (node is not JsonArray array || array.Any(a => a is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
            throw new InvalidInputException($"{source}: field 'architectures' must be a list of strings");
        return array.Select(a => a!.GetValue<string>()).ToArray();
    }

    static HashSet<string> KnownFields(Type type) =>
        type.GetProperties().Select(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name).OfType<string>().ToHashSet();

    /// <summary>
    /// The config.json to export: <paramref name="extra"/> (fields read on import) overlaid with the typed config
    /// and the given architecture. Our own fields are left out; the typed values win over stale extras.
    /// </summary>
    public static JsonObject ToHuggingFace(object typedConfig, string architecture, string torchDtype, JsonObject? extra)
    {
        var result = new JsonObject();
        var typed = JsonSerializer.SerializeToNode(typedConfig, typedConfig.GetType(), JsonFiles.Indented) as JsonObject
            ?? throw new InvalidOperationException("config did not serialise to an object");
        foreach (string field in PtmOnlyFields) typed.Remove(field);
        typed["architectures"] = new JsonArray(architecture);
        if (extra is not null)
            foreach (var (name, value) in extra)
                if (!typed.ContainsKey(name)) result[name] = value?.DeepClone();
        foreach (var (name, value) in typed) result[name] = value?.DeepClone();
        result["torch_dtype"] = torchDtype;
        return result;
    }
}
