using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Modeling;

/// <summary>
/// BERT hyper-parameters under Hugging Face BERT <c>config.json</c> names. Two switches cover the ALBERT
/// variant (Lan et al. 2019): <see cref="EmbeddingSize"/> below <see cref="HiddenSize"/> factorises the
/// embedding (HF ALBERT's <c>embedding_size</c>), and <see cref="ShareLayers"/> reuses one encoder layer
/// for every layer (ALBERT's cross-layer sharing; Ptm's own field). <see cref="PreLayerNorm"/> (Ptm's own field)
/// moves each layer's LayerNorms before its sub-layers (Xiong et al. 2020).
/// </summary>
public sealed record BertConfig
{
    /// <summary><c>model_type</c>: always <c>"bert"</c>; names the family when a checkpoint is loaded.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = ModelFamily.Bert.ModelType;
    /// <summary><c>vocab_size</c>: number of token ids, the rows of <c>word_embeddings</c> and the width of the MLM logits.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 30522;
    /// <summary><c>hidden_size</c>: width H of every encoder layer.</summary>
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    /// <summary><c>num_hidden_layers</c>: number of encoder layers applied (distinct ones unless <see cref="ShareLayers"/>).</summary>
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    /// <summary><c>num_attention_heads</c>: attention heads per layer; divides <c>hidden_size</c>.</summary>
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    /// <summary><c>intermediate_size</c>: width I of the feed-forward hidden layer.</summary>
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    /// <summary><c>hidden_act</c>: <c>"gelu"</c> (exact, erf) or <c>"gelu_new"</c>/<c>"gelu_pytorch_tanh"</c> (tanh approximation).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    /// <summary><c>hidden_dropout_prob</c>: dropout on embeddings and on each sub-layer's output, in [0, 1); also the dropout before the classification heads' linear layer.</summary>
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; init; } = 0.1;
    /// <summary><c>attention_probs_dropout_prob</c>: dropout on the attention probabilities, in [0, 1).</summary>
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; init; } = 0.1;
    /// <summary><c>max_position_embeddings</c>: the longest sequence the position embeddings cover.</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    /// <summary><c>type_vocab_size</c>: number of segment (token type) ids, 2 for sentence pairs.</summary>
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    /// <summary><c>layer_norm_eps</c>: the ε added to the variance in every LayerNorm.</summary>
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;
    /// <summary><c>initializer_range</c>: standard deviation of the normal initialisation of weights and embeddings.</summary>
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    /// <summary><c>pad_token_id</c>: the padding id, in [0, <c>vocab_size</c>); its embedding row starts at zero.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    /// <summary><c>position_embedding_type</c>: only <c>"absolute"</c> (learned positions) is implemented.</summary>
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; init; } = "absolute";
    /// <summary><c>architectures</c>: Hugging Face class names for the checkpoint; informational.</summary>
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; } = ["BertForPreTraining"];
    /// <summary><c>embedding_size</c>: ALBERT's embedding width E, projected to <c>hidden_size</c> before the first layer; null means E = H.</summary>
    [JsonPropertyName("embedding_size")] public int? EmbeddingSize { get; init; }
    /// <summary><c>share_layers</c>: true applies one encoder layer <c>num_hidden_layers</c> times (ALBERT's cross-layer sharing).</summary>
    [JsonPropertyName("share_layers")] public bool ShareLayers { get; init; }
    /// <summary>
    /// <c>pre_layer_norm</c> (Ptm's own field, as in GPT's config): false (default) is BERT's post-LN layer,
    /// LN(x + Sublayer(x)); true is the pre-LN layer of Xiong et al. 2020, x + Sublayer(LN(x)), which trains without
    /// warm-up and at larger learning rates. Pre-LN reuses the layer's two LayerNorms under their Hugging Face names:
    /// <c>attention.output.LayerNorm</c> normalises the attention's input and <c>output.LayerNorm</c> the
    /// feed-forward's input; the encoder then ends with one more LayerNorm, <c>encoder.LayerNorm</c> (present only
    /// with pre-LN). The embeddings' LayerNorm stays. Hugging Face's BERT has no pre-LN layout, so such a model
    /// cannot be exported to it. Written to <c>config.json</c> only when true, so a post-LN config reads and compares
    /// (on resume) exactly as one written without the field.
    /// </summary>
    [JsonPropertyName("pre_layer_norm"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool PreLayerNorm { get; init; }

    /// <summary>Width E of the embeddings: <c>embedding_size</c>, or <c>hidden_size</c> when that is null.</summary>

    [JsonIgnore] public int EmbeddingWidth => EmbeddingSize ?? HiddenSize;

    static readonly HashSet<string> IgnoredHfFields =
    [
        "transformers_version", "torch_dtype", "use_cache", "classifier_dropout", "gradient_checkpointing",
        "_name_or_path", "id2label", "label2id", "problem_type", "bos_token_id", "eos_token_id",
    ];

    /// <summary>Checks every field; the message names <paramref name="source"/> and the field and says what was expected.</summary>
    /// <exception cref="InvalidInputException">A field is out of range.</exception>
    public void Validate(string source)
    {
        void Require(bool ok, string field, string expected, object? actual)
        {
            if (!ok) throw new InvalidInputException($"{source}: field '{field}' must be {expected} (got {actual ?? "null"})");
        }
        Require(ModelType == ModelFamily.Bert.ModelType, "model_type", $"\"{ModelFamily.Bert.ModelType}\"", ModelType);
        Require(VocabSize > 0, "vocab_size", "a positive integer", VocabSize);
        Require(HiddenSize > 0, "hidden_size", "a positive integer", HiddenSize);
        Require(NumHiddenLayers > 0, "num_hidden_layers", "a positive integer", NumHiddenLayers);
        Require(NumAttentionHeads > 0, "num_attention_heads", "a positive integer", NumAttentionHeads);
        Require(HiddenSize % NumAttentionHeads == 0, "hidden_size", $"divisible by num_attention_heads ({NumAttentionHeads})", HiddenSize);
        Require(IntermediateSize > 0, "intermediate_size", "a positive integer", IntermediateSize);
        Require(HiddenAct is "gelu" or "gelu_new" or "gelu_pytorch_tanh", "hidden_act", "\"gelu\" (erf) or \"gelu_new\" (tanh approximation)", HiddenAct);
        Require(HiddenDropoutProb is >= 0 and < 1, "hidden_dropout_prob", "in [0, 1)", HiddenDropoutProb);
        Require(AttentionProbsDropoutProb is >= 0 and < 1, "attention_probs_dropout_prob", "in [0, 1)", AttentionProbsDropoutProb);
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", "a positive integer", MaxPositionEmbeddings);
        Require(TypeVocabSize > 0, "type_vocab_size", "a positive integer", TypeVocabSize);
        Require(LayerNormEps > 0, "layer_norm_eps", "positive", LayerNormEps);
        Require(InitializerRange > 0, "initializer_range", "positive", InitializerRange);
        Require(PadTokenId >= 0 && PadTokenId < VocabSize, "pad_token_id", $"in [0, vocab_size = {VocabSize})", PadTokenId);
        Require(PositionEmbeddingType == "absolute", "position_embedding_type", "\"absolute\" (the only kind implemented)", PositionEmbeddingType);
        Require(EmbeddingSize is null or > 0, "embedding_size", "a positive integer or null", EmbeddingSize);
    }

    /// <summary>Reads a <c>config.json</c> object; <paramref name="source"/> (usually the file path) names it in errors.
    /// Hugging Face fields that do not change the computation are accepted and dropped.</summary>
    /// <exception cref="InvalidInputException">An unknown field, a field of the wrong type, or a value out of range.</exception>
    public static BertConfig FromJson(JsonElement element, string source)
    {
        var config = JsonFiles.DeserializeStrict<BertConfig>(element, source, IgnoredHfFields);
        config.Validate(source);
        return config;
    }

    /// <summary>Reads and validates the <c>config.json</c> at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing or not a JSON object, or a field is unknown, mistyped or out of range.</exception>
    public static BertConfig Load(string path) => FromJson(JsonFiles.ReadObject(path), path);

    /// <summary>The config as indented <c>config.json</c> text under Hugging Face's field names; null fields left out.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonFiles.Indented);
}
