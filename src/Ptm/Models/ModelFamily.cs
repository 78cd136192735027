namespace Ptm;

/// <summary>
/// The architectures Ptm implements, each named in config.json by Hugging Face's <c>model_type</c> string
/// (the <c>ModelType</c> extension property): a folder's family decides which model class loads it.
/// </summary>
public enum ModelFamily
{
    /// <summary>Decoder-only GPT (GPT-1 and GPT-2 layouts), <c>model_type</c> "gpt2".</summary>
    Gpt2,

    /// <summary>Encoder-only BERT (and its ALBERT-style variants), <c>model_type</c> "bert".</summary>
    Bert,

    /// <summary>Encoder–decoder BART (post-LN, <c>model_type</c> "bart"; its pre-LN mBART variant reads as "mbart").</summary>
    Bart,

    /// <summary>ELMo's bidirectional LSTM language model with a character-CNN token encoder, <c>model_type</c> "elmo" (a Ptm format; Hugging Face has none).</summary>
    Elmo,
}

/// <summary>Conversions between <see cref="ModelFamily"/> and config.json's <c>model_type</c>.</summary>
public static class ModelFamilies
{
    /// <summary>Every family, in declaration order.</summary>
    public static IReadOnlyList<ModelFamily> All { get; } = [ModelFamily.Gpt2, ModelFamily.Bert, ModelFamily.Bart, ModelFamily.Elmo];

    /// <summary>The accepted <c>model_type</c> values, quoted, for messages: <c>"gpt2" or "bert"</c>.</summary>
    public static string Expected => string.Join(" or ", All.Select(f => $"\"{f.ModelType}\""));

    extension(ModelFamily family)
    {
        /// <summary>Hugging Face's <c>model_type</c> string for this family, as written in config.json.</summary>
        public string ModelType => family switch
        {
            ModelFamily.Gpt2 => "gpt2",
            ModelFamily.Bert => "bert",
            ModelFamily.Bart => "bart",
            ModelFamily.Elmo => "elmo",
            _ => throw new ArgumentOutOfRangeException(nameof(family), family, null),
        };
    }

    /// <summary>The family whose <c>model_type</c> is <paramref name="modelType"/>, if any.</summary>
    public static bool TryParse(string? modelType, out ModelFamily family)
    {
        foreach (var f in All)
            if (f.ModelType == modelType) { family = f; return true; }
        // mBART is BART with pre-LN layers (BartConfig.PreLayerNorm): one model class reads both.
        if (modelType == Modeling.BartConfig.MBartModelType) { family = ModelFamily.Bart; return true; }
        family = default;
        return false;
    }

    /// <summary>The family of <paramref name="modelType"/>, or <see cref="InvalidInputException"/> naming
    /// <paramref name="source"/> (the file and field it came from).</summary>
    public static ModelFamily Parse(string? modelType, string source) =>
        TryParse(modelType, out var family) ? family
            : throw new InvalidInputException($"{source}: model_type \"{modelType}\" is not supported (expected {Expected})");
}
