namespace Ptm.Tokenization;

/// <summary>
/// Configuration of a <see cref="WordPieceTokenizer"/> besides its vocabulary. Names follow Hugging Face's
/// BertTokenizer / tokenizer.json fields, whose defaults these are.
/// </summary>
public sealed record WordPieceSettings
{
    /// <summary>do_lower_case: lower-case text before splitting it into words (uncased BERT models).</summary>
    public bool DoLowerCase { get; init; } = true;
    /// <summary>strip_accents: null follows <see cref="DoLowerCase"/>, as in BERT.</summary>
    public bool? StripAccents { get; init; }
    /// <summary>tokenize_chinese_chars / handle_chinese_chars.</summary>
    public bool TokenizeChineseChars { get; init; } = true;
    /// <summary>clean_text: drop NUL, U+FFFD and control characters (categories Cc and Cf, as in Google's BERT).</summary>
    public bool CleanText { get; init; } = true;
    /// <summary>unk_token: what a word the vocabulary cannot spell becomes.</summary>
    public string UnknownToken { get; init; } = WordPieceTokenizer.UnkToken;
    /// <summary>continuing_subword_prefix: marks a piece that continues a word.</summary>
    public string ContinuationPrefix { get; init; } = "##";
    /// <summary>max_input_chars_per_word: longer words (in code points) become the unknown token whole.</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;
    /// <summary>model_max_length: the longest input the model takes; recorded for users, not enforced here.</summary>
    public int ModelMaxLength { get; init; } = 512;
}
