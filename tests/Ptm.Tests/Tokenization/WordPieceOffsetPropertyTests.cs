using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>Every token's offsets select the original characters it was made from.</summary>
public class WordPieceOffsetPropertyTests
{
    /// <summary>
    /// original[start..end], normalised the way the tokenizer does (KJV is ASCII, so lower-casing is all), equals the
    /// token without "##", or the token is [UNK] covering a whole word; tokens are in order and never overlap.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void KjvSentences_OffsetsSelectTheTokenText(bool lowerCase)
    {
        var t = lowerCase ? KjvWordPiece.Uncased : KjvWordPiece.Cased;
        var random = new Random(7);
        foreach (string line in KjvWordPiece.Lines.Where((_, i) => i % 17 == 0))
        {
            // Some lines get noise the tokenizer must see through: control characters and runs of spaces.
            string text = random.Next(3) == 0 ? line.Replace(" ", "  \u0007") : line;
            var (ids, offsets) = t.EncodeWithOffsets(text);
            int previousEnd = 0;
            for (int i = 0; i < ids.Length; i++)
            {
                var (start, end) = (offsets[i].Start, offsets[i].End);
                Assert.True(start >= previousEnd && end > start, $"token {i} of '{text}': span ({start},{end}) after {previousEnd}");
                previousEnd = end;
                if (ids[i] == t.UnkId) continue;
                string original = text[start..end];
                string piece = t.TokenText(ids[i]);
                if (piece.StartsWith("##", StringComparison.Ordinal)) piece = piece[2..];
                Assert.Equal(piece, lowerCase ? original.ToLowerInvariant() : original);
            }
        }
    }

    [Fact]
    public void AccentedAndDecomposedText_OffsetsCoverTheOriginalCharacters()
    {
        var t = new WordPieceTokenizer(new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "na", "##ive", "s", "##tra", "##sse" });
        // "Straße": ß lower-cases to itself and is not in the vocabulary, so the word is one [UNK].
        const string text = "CAFÉ Naïve Cafe\u0301 STRASSE Straße";
        var (ids, offsets) = t.EncodeWithOffsets(text);
        Assert.Equal(new[] { 5, 6, 7, 5, 8, 9, 10, 1 }, ids);
        Assert.Equal(new[] { "CAFÉ", "Na", "ïve", "Cafe", "S", "TRA", "SSE", "Straße" }, offsets.Select(o => text[o.Start..o.End]));
    }
}
