using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Modeling;

/// <summary>
/// BERT hyper-parameters under Hugging Face BERT <c>config.json</c> names. Two switches cover the ALBERT
/// variant (Lan et al. 2019): <see cref="EmbeddingSize"/> below <see cref="HiddenSize"/> factorises the
/// embedding (HF ALBERT's <c>embedding_size</c>), and <see cref="ShareLayers"/> reuses one encoder layer
/// for every layer (ALBERT's cross-layer sharing; Ptm's own field).
/// </summary>
public sealed record BertConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = ModelFamily.Bert.ModelType;
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 30522;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; } = 12;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu";
    [JsonPropertyName("hidden_dropout_prob")] public double HiddenDropoutProb { get; init; } = 0.1;
    [JsonPropertyName("attention_probs_dropout_prob")] public double AttentionProbsDropoutProb { get; init; } = 0.1;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 512;
    [JsonPropertyName("type_vocab_size")] public int TypeVocabSize { get; init; } = 2;
    [JsonPropertyName("layer_norm_eps")] public double LayerNormEps { get; init; } = 1e-12;
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    [JsonPropertyName("position_embedding_type")] public string PositionEmbeddingType { get; init; } = "absolute";
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; } = ["BertForPreTraining"];
    [JsonPropertyName("embedding_size")] public int? EmbeddingSize { get; init; }
    [JsonPropertyName("share_layers")] public bool ShareLayers { get; init; }

    [JsonIgnore] public int EmbeddingWidth => EmbeddingSize ?? HiddenSize;

    static readonly HashSet<string> IgnoredHfFields =
    [
        "transformers_version", "torch_dtype", "use_cache", "classifier_dropout", "gradient_checkpointing",
        "_name_or_path", "id2label", "label2id", "problem_type", "bos_token_id", "eos_token_id",
    ];

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

    public static BertConfig FromJson(JsonElement element, string source)
    {
        var config = JsonFiles.DeserializeStrict<BertConfig>(element, source, IgnoredHfFields);
        config.Validate(source);
        return config;
    }

    public static BertConfig Load(string path) => FromJson(JsonFiles.ReadObject(path), path);

    public string ToJson() => JsonSerializer.Serialize(this, JsonFiles.Indented);
}
