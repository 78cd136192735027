namespace Ptm.Data;

/// <summary>
/// One pre-training sequence before padding: <c>[CLS] A [SEP] B [SEP]</c> (or a packed <c>[CLS] ... [SEP]</c>).
/// </summary>
/// <param name="Tokens">The unmasked ids, specials included.</param>
/// <param name="SegmentBStart">First position with token type 1 (B and its final [SEP]); Tokens.Length when there is no B.</param>
/// <param name="PairLabel">NSP: 1 = B is from another document; SOP: 1 = swapped; <see cref="NoPairLabel"/> when packing.</param>
/// <param name="Mask">The static mask; <see cref="MlmMask.Empty"/> under dynamic masking.</param>
public sealed record BertInstance(int[] Tokens, int SegmentBStart, int PairLabel, MlmMask Mask)
{
    /// <summary>The <see cref="PairLabel"/> of a packed instance, which has no sentence pair.</summary>
    public const int NoPairLabel = -1;

    /// <summary>Real tokens, specials included; the batcher pads the rest of the row.</summary>
    public int Length => Tokens.Length;

    /// <summary>BERT token type (segment id) at <paramref name="position"/>: 1 from <see cref="SegmentBStart"/> to the end, else 0 (also past the end).</summary>
    public int TokenType(int position) => position >= SegmentBStart && position < Tokens.Length ? 1 : 0;
}
