using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>Hand-checked WordPiece cases on a tiny vocabulary, independent of any other implementation.</summary>
public class WordPieceTokenizerTests
{
    internal static readonly string[] TinyVocab =
    {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",          // 0-4
        "un", "##aff", "##able", "want", "##want", "##ed",     // 5-10
        "wa", "##nt", "runn", "##ing", ",", "low", "##est",    // 11-17
        "\U0001D400", "##\U0001D400",                          // 18-19: MATHEMATICAL BOLD CAPITAL A (a surrogate pair)
    };

    static WordPieceTokenizer Tiny(bool lower = true) => new(TinyVocab, new WordPieceSettings { DoLowerCase = lower });

    static CharSpan S(int start, int end) => new(start, end);

    [Fact]
    public void GreedyLongestMatchFirst()
    {
        var (ids, offsets) = Tiny().EncodeWithOffsets("unaffable");
        Assert.Equal(new[] { 5, 6, 7 }, ids);
        Assert.Equal(new[] { S(0, 2), S(2, 5), S(5, 9) }, offsets);
    }

    [Fact]
    public void LowerCasedWords_WithPunctuation()
    {
        var (ids, offsets) = Tiny().EncodeWithOffsets("UNwanted running,");
        Assert.Equal(new[] { 5, 9, 10, 13, 14, 15 }, ids);
        Assert.Equal(new[] { S(0, 2), S(2, 6), S(6, 8), S(9, 13), S(13, 16), S(16, 17) }, offsets);
    }

    [Fact]
    public void UnmatchableWord_IsOneUnknownOverTheWholeWord()
    {
        var (ids, offsets) = Tiny().EncodeWithOffsets("unwantedX running");
        Assert.Equal(new[] { 1, 13, 14 }, ids);
        Assert.Equal(new[] { S(0, 9), S(10, 14), S(14, 17) }, offsets);
        Assert.Equal(new[] { 1 }, Tiny(lower: false).Encode("UNaffable"));
    }

    [Fact]
    public void WordsLongerThan100CodePoints_AreUnknown()
    {
        var t = Tiny();
        string ok = "un" + string.Concat(Enumerable.Repeat("aff", 32));          // 98 chars
        Assert.Equal(33, t.Encode(ok).Length);
        string tooLong = "un" + string.Concat(Enumerable.Repeat("aff", 33));     // 101 chars
        Assert.Equal(new[] { 1 }, t.Encode(tooLong));
        // The limit counts code points: 100 astral letters are 200 UTF-16 units but still fit.
        string astral = string.Concat(Enumerable.Repeat("\U0001D400", 100));
        Assert.Equal(new[] { 18 }.Concat(Enumerable.Repeat(19, 99)), t.Encode(astral));
        Assert.Equal(new[] { 1 }, t.Encode(astral + "\U0001D400"));
    }

    [Fact]
    public void SpecialTokensInText_MapToTheirIds()
    {
        var (ids, offsets) = Tiny().EncodeWithOffsets("[CLS] want[SEP]");
        Assert.Equal(new[] { 2, 8, 3 }, ids);
        Assert.Equal(new[] { S(0, 5), S(6, 10), S(10, 15) }, offsets);
    }

    [Fact]
    public void Properties()
    {
        var t = Tiny(lower: false);
        Assert.Equal("wordpiece", t.Kind);
        Assert.Null(t.EndOfTextId);
        Assert.Equal(20, t.VocabSize);
        Assert.Equal((0, 1, 2, 3, 4), (t.PadId, t.UnkId, t.ClsId, t.SepId, t.MaskId));
        Assert.False(t.DoLowerCase);
        Assert.Equal("##aff", t.TokenText(6));
        Assert.True(t.TryGetId("runn", out int id));
        Assert.Equal(13, id);
        Assert.False(t.TryGetId("nope", out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.TokenText(20));
    }

    [Fact]
    public void Decode_GluesContinuationsAndSpacesWords()
    {
        var t = Tiny();
        Assert.Equal("[CLS] unaffable , running [SEP]", t.Decode(new[] { 2, 5, 6, 7, 15, 13, 14, 3 }));
        Assert.Equal("##ing want", t.Decode(new[] { 14, 8 }));
        Assert.Equal("unaffable"u8.ToArray(), t.DecodeToBytes(new[] { 5, 6, 7 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode(new[] { 99 }));
    }

    [Fact]
    public void Constructor_RejectsMissingSpecialsAndDuplicates()
    {
        var e = Assert.Throws<ArgumentException>(() => new WordPieceTokenizer(new[] { "[UNK]", "[CLS]", "[SEP]", "a" }));
        Assert.Contains("[PAD] [MASK]", e.Message);
        e = Assert.Throws<ArgumentException>(() => new WordPieceTokenizer(TinyVocab.Append("un").ToArray()));
        Assert.Contains("'un' appears twice", e.Message);
    }
}
