using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Modeling;

/// <summary>
/// Encoder–decoder hyper-parameters under Hugging Face BART <c>config.json</c> names, so a config written by either
/// tool reads in the other. <c>model_type</c> <c>"bart"</c> is post-LN (BART, the original Transformer);
/// <c>"mbart"</c>, or <see cref="NormalizeBefore"/> true, is pre-LN (mBART, Marian) with a final LayerNorm after each
/// stack (<c>model.encoder.layer_norm</c>, <c>model.decoder.layer_norm</c>).
/// </summary>
public sealed record BartConfig
{
    /// <summary><c>model_type</c>: <c>"bart"</c> (post-LN) or <c>"mbart"</c> (pre-LN); names the family when a checkpoint is loaded.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = ModelFamily.Bart.ModelType;
    /// <summary><c>vocab_size</c>: number of token ids, the rows of <c>model.shared</c> and the width of the logits.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 50265;
    /// <summary><c>d_model</c>: width C of both stacks' residual streams.</summary>
    [JsonPropertyName("d_model")] public int DModel { get; init; } = 1024;
    /// <summary><c>encoder_layers</c>: number of encoder layers.</summary>
    [JsonPropertyName("encoder_layers")] public int EncoderLayers { get; init; } = 12;
    /// <summary><c>decoder_layers</c>: number of decoder layers.</summary>
    [JsonPropertyName("decoder_layers")] public int DecoderLayers { get; init; } = 12;
    /// <summary><c>encoder_attention_heads</c>: heads of the encoder's self-attention; divides <c>d_model</c>.</summary>
    [JsonPropertyName("encoder_attention_heads")] public int EncoderAttentionHeads { get; init; } = 16;
    /// <summary><c>decoder_attention_heads</c>: heads of the decoder's self- and cross-attention; divides <c>d_model</c>.</summary>
    [JsonPropertyName("decoder_attention_heads")] public int DecoderAttentionHeads { get; init; } = 16;
    /// <summary><c>encoder_ffn_dim</c>: width of the encoder's feed-forward hidden layer (<c>fc1</c>).</summary>
    [JsonPropertyName("encoder_ffn_dim")] public int EncoderFfnDim { get; init; } = 4096;
    /// <summary><c>decoder_ffn_dim</c>: width of the decoder's feed-forward hidden layer (<c>fc1</c>).</summary>
    [JsonPropertyName("decoder_ffn_dim")] public int DecoderFfnDim { get; init; } = 4096;
    /// <summary><c>max_position_embeddings</c>: the longest source or target; each position table has 2 more rows (BART's offset).</summary>
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 1024;
    /// <summary><c>scale_embedding</c>: multiply token embeddings by √d_model before adding positions.</summary>
    [JsonPropertyName("scale_embedding")] public bool ScaleEmbedding { get; init; }
    /// <summary><c>activation_function</c>: the feed-forward nonlinearity, <c>"gelu"</c> (erf), <c>"gelu_new"</c>/<c>"gelu_pytorch_tanh"</c> (tanh approximation) or <c>"relu"</c>.</summary>
    [JsonPropertyName("activation_function")] public string ActivationFunction { get; init; } = "gelu";
    /// <summary><c>dropout</c>: dropout on the embeddings and on each sub-layer's output before the residual sum, in [0, 1).</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    /// <summary><c>attention_dropout</c>: dropout on the attention probabilities, in [0, 1).</summary>
    [JsonPropertyName("attention_dropout")] public double AttentionDropout { get; init; }
    /// <summary><c>activation_dropout</c>: dropout after the feed-forward nonlinearity, in [0, 1).</summary>
    [JsonPropertyName("activation_dropout")] public double ActivationDropout { get; init; }
    /// <summary><c>init_std</c>: standard deviation of the normal initialisation of weights and embeddings.</summary>
    [JsonPropertyName("init_std")] public double InitStd { get; init; } = 0.02;
    /// <summary><c>pad_token_id</c>: the padding id (BART: 1); its embedding row starts at zero.</summary>
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; } = 1;
    /// <summary><c>bos_token_id</c>: the id that starts a sequence, <c>&lt;s&gt;</c> (BART: 0).</summary>
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; }
    /// <summary><c>eos_token_id</c>: the id that ends a sequence, <c>&lt;/s&gt;</c> (BART: 2); decoding stops at it.</summary>
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; } = 2;
    /// <summary><c>decoder_start_token_id</c>: the first decoder input, before any target token (BART: 2, <c>&lt;/s&gt;</c>).</summary>
    [JsonPropertyName("decoder_start_token_id")] public int DecoderStartTokenId { get; init; } = 2;
    /// <summary><c>tie_word_embeddings</c>: must be true; the LM head is <c>model.shared</c> itself.</summary>
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; } = true;
    /// <summary><c>normalize_before</c>: pre-LN layers plus final LayerNorms (mBART); null means true for <c>"mbart"</c>, false for <c>"bart"</c>.</summary>
    [JsonPropertyName("normalize_before")] public bool? NormalizeBefore { get; init; }
    /// <summary><c>architectures</c>: Hugging Face class names for the checkpoint; informational.</summary>
    [JsonPropertyName("architectures")] public string[]? Architectures { get; init; } = ["BartForConditionalGeneration"];

    /// <summary>Whether the layers are pre-LN (and each stack ends in a LayerNorm): <c>normalize_before</c>, else <c>model_type</c> "mbart".</summary>
    [JsonIgnore] public bool PreLayerNorm => NormalizeBefore ?? ModelType == MBartModelType;
    /// <summary>The multiplier of the token embeddings: √d_model with <c>scale_embedding</c>, else 1.</summary>
    [JsonIgnore] public double EmbedScale => ScaleEmbedding ? Math.Sqrt(DModel) : 1.0;

    /// <summary>BART's learned position tables have this many extra rows in front: position p is row p + 2.</summary>
    public const int PositionOffset = 2;
    /// <summary>Hugging Face's <c>model_type</c> of the pre-LN variant.</summary>
    public const string MBartModelType = "mbart";

    /// <summary>Fields Hugging Face writes into BART configs that do not change the computation here (generation
    /// defaults, classification heads, layer drop, which only skips layers in training).</summary>
    static readonly HashSet<string> IgnoredHfFields =
    [
        "transformers_version", "torch_dtype", "use_cache", "_name_or_path", "id2label", "label2id", "num_labels",
        "classifier_dropout", "classif_dropout", "encoder_layerdrop", "decoder_layerdrop", "is_encoder_decoder",
        "forced_bos_token_id", "forced_eos_token_id", "num_beams", "max_length", "min_length", "early_stopping",
        "no_repeat_ngram_size", "length_penalty", "task_specific_params", "num_hidden_layers", "gradient_checkpointing",
        "output_past", "add_bias_logits", "add_final_layer_norm", "normalize_embedding", "static_position_embeddings",
        "extra_pos_embeddings", "problem_type",
    ];

    static readonly string[] Activations = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"];

    /// <summary>Checks every field; the message names <paramref name="source"/> and the field and says what was expected.</summary>
    /// <exception cref="InvalidInputException">A field is out of range.</exception>
    public void Validate(string source)
    {
        void Require(bool ok, string field, string expected, object? actual)
        {
            if (!ok) throw new InvalidInputException($"{source}: field '{field}' must be {expected} (got {actual ?? "null"})");
        }
        Require(ModelType == ModelFamily.Bart.ModelType || ModelType == MBartModelType, "model_type", $"\"{ModelFamily.Bart.ModelType}\" or \"{MBartModelType}\"", ModelType);
        Require(!(ModelType == MBartModelType && NormalizeBefore == false), "normalize_before", "true or absent for model_type \"mbart\" (mBART is pre-LN)", NormalizeBefore);
        Require(VocabSize > 0, "vocab_size", "a positive integer", VocabSize);
        Require(DModel > 0, "d_model", "a positive integer", DModel);
        Require(EncoderLayers > 0, "encoder_layers", "a positive integer", EncoderLayers);
        Require(DecoderLayers > 0, "decoder_layers", "a positive integer", DecoderLayers);
        Require(EncoderAttentionHeads > 0 && DModel % EncoderAttentionHeads == 0, "encoder_attention_heads", $"a positive divisor of d_model ({DModel})", EncoderAttentionHeads);
        Require(DecoderAttentionHeads > 0 && DModel % DecoderAttentionHeads == 0, "decoder_attention_heads", $"a positive divisor of d_model ({DModel})", DecoderAttentionHeads);
        Require(EncoderFfnDim > 0, "encoder_ffn_dim", "a positive integer", EncoderFfnDim);
        Require(DecoderFfnDim > 0, "decoder_ffn_dim", "a positive integer", DecoderFfnDim);
        Require(MaxPositionEmbeddings > 0, "max_position_embeddings", "a positive integer", MaxPositionEmbeddings);
        Require(Activations.Contains(ActivationFunction), "activation_function", "\"gelu\", \"gelu_new\", \"gelu_pytorch_tanh\" or \"relu\"", ActivationFunction);
        Require(Dropout is >= 0 and < 1, "dropout", "in [0, 1)", Dropout);
        Require(AttentionDropout is >= 0 and < 1, "attention_dropout", "in [0, 1)", AttentionDropout);
        Require(ActivationDropout is >= 0 and < 1, "activation_dropout", "in [0, 1)", ActivationDropout);
        Require(InitStd > 0, "init_std", "positive", InitStd);
        foreach (var (field, id) in new[] { ("pad_token_id", PadTokenId), ("bos_token_id", BosTokenId), ("eos_token_id", EosTokenId), ("decoder_start_token_id", DecoderStartTokenId) })
            Require(id >= 0 && id < VocabSize, field, $"in [0, vocab_size = {VocabSize})", id);
        Require(TieWordEmbeddings, "tie_word_embeddings", "true (the LM head shares model.shared)", TieWordEmbeddings);
    }

    /// <summary>Reads a <c>config.json</c> object; <paramref name="source"/> (usually the file path) names it in errors.
    /// Hugging Face fields that do not change the computation are accepted and dropped.</summary>
    /// <exception cref="InvalidInputException">An unknown field, a field of the wrong type, or a value out of range.</exception>
    public static BartConfig FromJson(JsonElement element, string source)
    {
        var config = JsonFiles.DeserializeStrict<BartConfig>(element, source, IgnoredHfFields);
        config.Validate(source);
        return config;
    }

    /// <summary>Reads and validates the <c>config.json</c> at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing or not a JSON object, or a field is unknown, mistyped or out of range.</exception>
    public static BartConfig Load(string path) => FromJson(JsonFiles.ReadObject(path), path);

    /// <summary>The config as indented <c>config.json</c> text under Hugging Face's field names; null fields left out.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonFiles.Indented);
}
