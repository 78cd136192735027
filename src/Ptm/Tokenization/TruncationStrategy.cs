namespace Ptm.Tokenization;

/// <summary>How <see cref="WordPieceTokenizer.EncodePair"/> shortens inputs that do not fit in maxLength.</summary>
public enum TruncationStrategy
{
    /// <summary>Drop the last token of whichever sequence is longer (the second on a tie), one at a time, as Google
    /// BERT's _truncate_seq_pair does.</summary>
    LongestFirst,
    /// <summary>Drop tokens from the end of the first sequence only.</summary>
    OnlyFirst,
    /// <summary>Drop tokens from the end of the second sequence only.</summary>
    OnlySecond,
    /// <summary>Never truncate: too long an input is an <see cref="InvalidInputException"/>.</summary>
    None,
}
