namespace Ptm.Data;

/// <summary>
/// A padded BERT batch, row-major [BatchSize, SeqLen]: row b is <c>[b*SeqLen, (b+1)*SeqLen)</c>. Padding is [PAD]
/// with attention mask 0, token type 0 and MLM label -100. <see cref="NspLabels"/> has one entry per row: 0, 1, or
/// -100 for packed (nsp: false) data, so a loss with ignore_index -100 skips it.
/// </summary>
public sealed record BertBatch(long[] InputIds, long[] TokenTypeIds, long[] AttentionMask, long[] MlmLabels, long[] NspLabels, int BatchSize, int SeqLen);
