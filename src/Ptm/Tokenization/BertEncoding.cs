namespace Ptm.Tokenization;

/// <summary>
/// A BERT model input: <c>[CLS] A [SEP]</c> or <c>[CLS] A [SEP] B [SEP]</c>, then any padding. All arrays have the
/// same length. <see cref="TokenTypeIds"/> is 0 for [CLS], A and the first [SEP], 1 for B and the last [SEP] (and 0
/// for padding). <see cref="Offsets"/> point into the original text of the token's own sequence (A or B, told apart
/// by <see cref="TokenTypeIds"/>); special and padding tokens get (0, 0).
/// </summary>
/// <param name="InputIds">Token ids, one per position.</param>
/// <param name="TokenTypeIds">Segment of each position: 0 for [CLS], A, the first [SEP] and padding; 1 for B and the
/// last [SEP] (Hugging Face's <c>token_type_ids</c>).</param>
/// <param name="AttentionMask">1 for a real token, 0 for padding (<c>attention_mask</c>).</param>
/// <param name="Offsets">Each token's character span in its own sequence's text; (0, 0) for special and padding tokens.</param>
/// <param name="SpecialTokensMask">True for [CLS], [SEP] and padding (<c>special_tokens_mask</c>).</param>
/// <param name="TruncatedTokens">How many tokens of A and B were dropped to fit maxLength.</param>
public sealed record BertEncoding(
    int[] InputIds,
    int[] TokenTypeIds,
    int[] AttentionMask,
    CharSpan[] Offsets,
    bool[] SpecialTokensMask,
    int TruncatedTokens)
{
    /// <summary>Whether truncation dropped tokens to fit the maximum length.</summary>
    public bool IsTruncated => TruncatedTokens > 0;
    /// <summary>The number of tokens, special tokens included.</summary>
    public int Length => InputIds.Length;
}
