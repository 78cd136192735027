using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Modeling;

/// <summary>
/// GPT hyper-parameters under Hugging Face GPT-2 <c>config.json</c> names, so a config written by either
/// tool reads in the other. <see cref="PreLayerNorm"/> is our one addition: true is GPT-2 (LayerNorm
/// before each sub-layer plus a final ln_f), false is GPT-1 (LayerNorm after each residual sum, no ln_f).
/// </summary>
public sealed record GptConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = ModelFamily.Gpt2.ModelType;
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50257;
    [JsonPropertyName("n_positions")] public int NPositions { get; init; } = 1024;
    [JsonPropertyName("n_embd")] public int NEmbd { get; init; } = 768;
    [JsonPropertyName("n_layer")] public int NLayer { get; init; } = 12;
    [JsonPropertyName("n_head")] public int NHead { get; init; } = 12;
    /// <summary>Width of the MLP's hidden layer; null means 4 × n_embd (GPT-2's default).</summary>
    [JsonPropertyName("n_inner")] public int? NInner { get; init; }
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; init; } = "gelu_new";
    [JsonPropertyName("resid_pdrop")] public double ResidPdrop { get; init; } = 0.1;
    [JsonPropertyName("embd_pdrop")] public double EmbdPdrop { get; init; } = 0.1;
    [JsonPropertyName("attn_pdrop")] public double AttnPdrop { get; init; } = 0.1;
    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEpsilon { get; init; } = 1e-5;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; }
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; } = ["GPT2LMHeadModel"];
    [JsonPropertyName("pre_layer_norm")] public bool PreLayerNorm { get; init; } = true;

    [JsonIgnore] public int InnerSize => NInner ?? 4 * NEmbd;
    [JsonIgnore] public int HeadSize => NEmbd / NHead;

    /// <summary>Fields Hugging Face writes into GPT-2 configs that do not change the computation here.</summary>
    static readonly HashSet<string> IgnoredHfFields =
    [
        "n_ctx", "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels",
        "summary_first_dropout", "task_specific_params", "transformers_version", "torch_dtype", "use_cache",
        "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "_name_or_path",
        "id2label", "label2id",
    ];

    static readonly string[] GeluTanhNames = ["gelu_new", "gelu_pytorch_tanh"];

    /// <summary>Checks every field; the message names the file and the field and says what was expected.</summary>
    public void Validate(string source)
    {
        void Require(bool ok, string field, string expected, object? actual)
        {
            if (!ok) throw new InvalidInputException($"{source}: field '{field}' must be {expected} (got {actual ?? "null"})");
        }
        Require(ModelType == ModelFamily.Gpt2.ModelType, "model_type", $"\"{ModelFamily.Gpt2.ModelType}\"", ModelType);
        Require(VocabSize > 0, "vocab_size", "a positive integer", VocabSize);
        Require(NPositions > 0, "n_positions", "a positive integer", NPositions);
        Require(NEmbd > 0, "n_embd", "a positive integer", NEmbd);
        Require(NLayer > 0, "n_layer", "a positive integer", NLayer);
        Require(NHead > 0, "n_head", "a positive integer", NHead);
        Require(NEmbd % NHead == 0, "n_embd", $"divisible by n_head ({NHead})", NEmbd);
        Require(NInner is null or > 0, "n_inner", "a positive integer or null", NInner);
        Require(GeluTanhNames.Contains(ActivationFunction), "activation_function",
            "\"gelu_new\" (GELU, tanh approximation; the only activation implemented)", ActivationFunction);
        Require(ResidPdrop is >= 0 and < 1, "resid_pdrop", "in [0, 1)", ResidPdrop);
        Require(EmbdPdrop is >= 0 and < 1, "embd_pdrop", "in [0, 1)", EmbdPdrop);
        Require(AttnPdrop is >= 0 and < 1, "attn_pdrop", "in [0, 1)", AttnPdrop);
        Require(LayerNormEpsilon > 0, "layer_norm_epsilon", "positive", LayerNormEpsilon);
        Require(InitializerRange > 0, "initializer_range", "positive", InitializerRange);
        Require(TieWordEmbeddings, "tie_word_embeddings", "true (the LM head shares the token embedding)", TieWordEmbeddings);
    }

    public static GptConfig FromJson(JsonElement element, string source)
    {
        var config = JsonFiles.DeserializeStrict<GptConfig>(element, source, IgnoredHfFields);
        config.Validate(source);
        return config;
    }

    public static GptConfig Load(string path) => FromJson(JsonFiles.ReadObject(path), path);

    public string ToJson() => JsonSerializer.Serialize(this, JsonFiles.Indented);
}
