using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Modeling;

/// <summary>
/// ELMo hyper-parameters (Peters et al. 2018), under the names of AllenNLP's biLM options file where it has one
/// (<c>char_cnn.filters</c>, <c>lstm.dim</c>, <c>lstm.projection_dim</c>, ...), flattened into one <c>config.json</c>
/// object with <c>model_type</c> "elmo". The published ELMo is filters up to width 7 with 4096 filters, 2 highway
/// layers, LSTM cells of 4096 projected to 512; the defaults here are a model that trains on one CPU in minutes.
/// </summary>
public sealed record ElmoConfig
{
    /// <summary><c>model_type</c>: always <c>"elmo"</c>; names the family when a folder is loaded.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = ModelFamily.Elmo.ModelType;
    /// <summary><c>vocab_size</c>: the softmax's words (the vocabulary file's lines: specials, then words by frequency).</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 8000;
    /// <summary><c>max_characters_per_token</c>: character ids per word, begin- and end-of-word markers included;
    /// longer words keep their first characters (then the end marker).</summary>
    [JsonPropertyName("max_characters_per_token")] public int MaxCharactersPerToken { get; init; } = 24;
    /// <summary><c>char_embedding_dim</c>: width of each character's embedding.</summary>
    [JsonPropertyName("char_embedding_dim")] public int CharEmbeddingDim { get; init; } = 16;
    /// <summary><c>filters</c>: the character convolutions as [width, number of filters] pairs; each is max-pooled over
    /// the word, and their outputs are concatenated.</summary>
    [JsonPropertyName("filters")] public int[][] Filters { get; init; } = [[1, 32], [2, 32], [3, 64], [4, 128], [5, 128]];
    /// <summary><c>n_highway</c>: highway layers over the concatenated filter outputs.</summary>
    [JsonPropertyName("n_highway")] public int NHighway { get; init; } = 2;
    /// <summary><c>projection_dim</c>: width P of the token representation and of each LSTM layer's projected output.</summary>
    [JsonPropertyName("projection_dim")] public int ProjectionDim { get; init; } = 128;
    /// <summary><c>lstm_dim</c>: the LSTM's cell and hidden width, projected down to <c>projection_dim</c>.</summary>
    [JsonPropertyName("lstm_dim")] public int LstmDim { get; init; } = 512;
    /// <summary><c>n_layers</c>: LSTM layers per direction (the paper's 2).</summary>
    [JsonPropertyName("n_layers")] public int NLayers { get; init; } = 2;
    /// <summary><c>dropout</c>: dropout on the token representation and on each layer's output, in [0, 1).</summary>
    [JsonPropertyName("dropout")] public double Dropout { get; init; } = 0.1;
    /// <summary><c>residual</c>: add each layer's input to its output from the second layer on (the paper's residual connection).</summary>
    [JsonPropertyName("residual")] public bool Residual { get; init; } = true;

    /// <summary>Sum of the filter counts: the width of the char-CNN's output before the highway layers.</summary>
    [JsonIgnore] public int FilterTotal => Filters.Sum(f => f[1]);

    /// <summary>Checks every field; the message names <paramref name="source"/> and the field and says what was expected.</summary>
    /// <exception cref="InvalidInputException">A field is out of range.</exception>
    public void Validate(string source)
    {
        void Require(bool ok, string field, string expected, object? actual)
        {
            if (!ok) throw new InvalidInputException($"{source}: field '{field}' must be {expected} (got {actual ?? "null"})");
        }
        Require(ModelType == ModelFamily.Elmo.ModelType, "model_type", $"\"{ModelFamily.Elmo.ModelType}\"", ModelType);
        Require(VocabSize >= ElmoVocabulary.SpecialCount + 1, "vocab_size", $"at least {ElmoVocabulary.SpecialCount + 1} (the specials and one word)", VocabSize);
        Require(MaxCharactersPerToken >= 3, "max_characters_per_token", "at least 3 (begin marker, a character, end marker)", MaxCharactersPerToken);
        Require(CharEmbeddingDim > 0, "char_embedding_dim", "a positive integer", CharEmbeddingDim);
        Require(Filters is { Length: > 0 } && Filters.All(f => f is { Length: 2 } && f[0] > 0 && f[1] > 0), "filters",
            "a non-empty list of [width, count] pairs of positive integers", Filters is null ? null : JsonSerializer.Serialize(Filters));
        Require(Filters!.All(f => f[0] <= MaxCharactersPerToken), "filters", $"widths of at most max_characters_per_token ({MaxCharactersPerToken})", JsonSerializer.Serialize(Filters));
        Require(NHighway >= 0, "n_highway", "a non-negative integer", NHighway);
        Require(ProjectionDim > 0, "projection_dim", "a positive integer", ProjectionDim);
        Require(LstmDim > 0, "lstm_dim", "a positive integer", LstmDim);
        Require(NLayers > 0, "n_layers", "a positive integer", NLayers);
        Require(Dropout is >= 0 and < 1, "dropout", "in [0, 1)", Dropout);
    }

    /// <summary>Reads a <c>config.json</c> object; <paramref name="source"/> (usually the file path) names it in errors.</summary>
    /// <exception cref="InvalidInputException">An unknown field, a field of the wrong type, or a value out of range.</exception>
    public static ElmoConfig FromJson(JsonElement element, string source)
    {
        var config = JsonFiles.DeserializeStrict<ElmoConfig>(element, source);
        config.Validate(source);
        return config;
    }

    /// <summary>Reads and validates the <c>config.json</c> at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing or not a JSON object, or a field is unknown, mistyped or out of range.</exception>
    public static ElmoConfig Load(string path) => FromJson(JsonFiles.ReadObject(path), path);

    /// <summary>The config as indented <c>config.json</c> text.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonFiles.Indented);
}
