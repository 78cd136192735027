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
    /// <summary><c>model_type</c>: always <c>"gpt2"</c>; names the family when a checkpoint is loaded.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = ModelFamily.Gpt2.ModelType;
    /// <summary><c>vocab_size</c>: number of token ids, the rows of <c>wte</c> and the width of the logits.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50257;
    /// <summary><c>n_positions</c>: the context length, the most positions one forward pass (plus its cache) may hold.</summary>
    [JsonPropertyName("n_positions")] public int NPositions { get; init; } = 1024;
    /// <summary><c>n_embd</c>: width C of the residual stream.</summary>
    [JsonPropertyName("n_embd")] public int NEmbd { get; init; } = 768;
    /// <summary><c>n_layer</c>: number of Transformer blocks <c>h</c>.</summary>
    [JsonPropertyName("n_layer")] public int NLayer { get; init; } = 12;
    /// <summary><c>n_head</c>: attention heads per block; divides <c>n_embd</c>.</summary>
    [JsonPropertyName("n_head")] public int NHead { get; init; } = 12;
    /// <summary>Width of the MLP's hidden layer; null means 4 × n_embd (GPT-2's default).</summary>
    [JsonPropertyName("n_inner")] public int? NInner { get; init; }
    /// <summary><c>activation_function</c>: the MLP's nonlinearity; only GELU with the tanh approximation (<c>"gelu_new"</c>, <c>"gelu_pytorch_tanh"</c>).</summary>
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; init; } = "gelu_new";
    /// <summary><c>resid_pdrop</c>: dropout on each sub-layer's output before the residual sum, in [0, 1); also the dropout before the classification heads' linear layer.</summary>
    [JsonPropertyName("resid_pdrop")] public double ResidPdrop { get; init; } = 0.1;
    /// <summary><c>embd_pdrop</c>: dropout on the summed token and position embeddings, in [0, 1).</summary>
    [JsonPropertyName("embd_pdrop")] public double EmbdPdrop { get; init; } = 0.1;
    /// <summary><c>attn_pdrop</c>: dropout on the attention probabilities, in [0, 1).</summary>
    [JsonPropertyName("attn_pdrop")] public double AttnPdrop { get; init; } = 0.1;
    /// <summary><c>layer_norm_epsilon</c>: the ε added to the variance in every LayerNorm.</summary>
    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEpsilon { get; init; } = 1e-5;
    /// <summary><c>initializer_range</c>: standard deviation of the normal initialisation of weights and embeddings.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary><c>tie_word_embeddings</c>: must be true; the LM head is <c>wte</c> itself.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    /// <summary><c>bos_token_id</c>: the beginning-of-text id, if the tokenizer has one; kept for Hugging Face tools, not read by the model.</summary>
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    /// <summary><c>eos_token_id</c>: the end-of-text id, if the tokenizer has one; kept for Hugging Face tools, not read by the model.</summary>
    [JsonPropertyName("eos_token_id")] public int? EosTokenId { get; init; }
    /// <summary><c>architectures</c>: Hugging Face class names for the checkpoint; informational.</summary>
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; } = ["GPT2LMHeadModel"];
    /// <summary><c>pre_layer_norm</c>: true for GPT-2's pre-LN blocks and final <c>ln_f</c>, false for GPT-1's post-LN blocks.</summary>
    [JsonPropertyName("pre_layer_norm")] public bool PreLayerNorm { get; init; } = true;

    /// <summary>Width of the MLP's hidden layer: <c>n_inner</c>, or 4 × <c>n_embd</c> when that is null.</summary>

    [JsonIgnore] public int InnerSize => NInner ?? 4 * NEmbd;
    /// <summary>Width of one attention head, hs = <c>n_embd</c> / <c>n_head</c>.</summary>
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

    /// <summary>Checks every field; the message names <paramref name="source"/> and the field and says what was expected.</summary>
    /// <exception cref="InvalidInputException">A field is out of range.</exception>
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

    /// <summary>Reads a <c>config.json</c> object; <paramref name="source"/> (usually the file path) names it in errors.
    /// Hugging Face fields that do not change the computation are accepted and dropped.</summary>
    /// <exception cref="InvalidInputException">An unknown field, a field of the wrong type, or a value out of range.</exception>
    public static GptConfig FromJson(JsonElement element, string source)
    {
        var config = JsonFiles.DeserializeStrict<GptConfig>(element, source, IgnoredHfFields);
        config.Validate(source);
        return config;
    }

    /// <summary>Reads and validates the <c>config.json</c> at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing or not a JSON object, or a field is unknown, mistyped or out of range.</exception>
    public static GptConfig Load(string path) => FromJson(JsonFiles.ReadObject(path), path);

    /// <summary>The config as indented <c>config.json</c> text under Hugging Face's field names; null fields left out.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonFiles.Indented);
}
