using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>[CLS] A [SEP] B [SEP] inputs: segment ids, mask, offsets, truncation (Google's _truncate_seq_pair) and padding.</summary>
public class WordPiecePairTests
{
    static readonly WordPieceTokenizer Tiny = new(WordPieceTokenizerTests.TinyVocab);

    [Fact]
    public void Pair_ExactIdsTypesMaskOffsets()
    {
        var e = Tiny.EncodePair("unaffable", "wanted running", 16);
        Assert.Equal(new[] { 2, 5, 6, 7, 3, 8, 10, 13, 14, 3 }, e.InputIds);
        Assert.Equal(new[] { 0, 0, 0, 0, 0, 1, 1, 1, 1, 1 }, e.TokenTypeIds);
        Assert.Equal(Enumerable.Repeat(1, 10), e.AttentionMask);
        Assert.Equal(new CharSpan[] { new(0, 0), new(0, 2), new(2, 5), new(5, 9), new(0, 0), new(0, 4), new(4, 6), new(7, 11), new(11, 14), new(0, 0) },
            e.Offsets);
        Assert.Equal(new[] { true, false, false, false, true, false, false, false, false, true }, e.SpecialTokensMask);
        Assert.False(e.IsTruncated);
    }

    [Fact]
    public void Single_HasOneSeparatorAndTypeZero()
    {
        var e = Tiny.EncodePair("want", null, 8);
        Assert.Equal(new[] { 2, 8, 3 }, e.InputIds);
        Assert.Equal(new[] { 0, 0, 0 }, e.TokenTypeIds);
    }

    [Fact]
    public void Padding_FillsWithPadAndMaskZero()
    {
        var e = Tiny.EncodePair("want", "low", 7, padToMaxLength: true);
        Assert.Equal(new[] { 2, 8, 3, 16, 3, 0, 0 }, e.InputIds);
        Assert.Equal(new[] { 0, 0, 0, 1, 1, 0, 0 }, e.TokenTypeIds);
        Assert.Equal(new[] { 1, 1, 1, 1, 1, 0, 0 }, e.AttentionMask);
        Assert.Equal(7, e.Length);
    }

    [Fact]
    public void LongestFirst_PopsFromTheLongerThenFromBOnTies()
    {
        // A = un want wa runn (4), B = low , un want (4); budget 8 - 3 = 5.
        // Google: 4+4 tie → B 3; 4>3 → A 3; 3+3 tie → B 2; 3+2 = 5 fits.
        var e = Tiny.EncodePair("un want wa runn", "low , un want", 8);
        Assert.Equal(new[] { 2, 5, 8, 11, 3, 16, 15, 3 }, e.InputIds);
        Assert.Equal(3, e.TruncatedTokens);

        // A 5, B 3, budget 6: A 4, A 3, then 3+3 fits.
        e = Tiny.EncodePair("un want wa runn low", "low , un", 9);
        Assert.Equal(new[] { 2, 5, 8, 11, 3, 16, 15, 5, 3 }, e.InputIds);
        Assert.Equal(2, e.TruncatedTokens);
    }

    [Fact]
    public void OnlyFirstAndOnlySecond()
    {
        var e = Tiny.EncodePair("un want wa runn", "low ,", 7, TruncationStrategy.OnlyFirst);
        Assert.Equal(new[] { 2, 5, 8, 3, 16, 15, 3 }, e.InputIds);
        e = Tiny.EncodePair("un want", "low , un want", 7, TruncationStrategy.OnlySecond);
        Assert.Equal(new[] { 2, 5, 8, 3, 16, 15, 3 }, e.InputIds);
        var error = Assert.Throws<InvalidInputException>(() => Tiny.EncodePair("un want wa", "low", 5, TruncationStrategy.OnlySecond));
        Assert.Contains("only the second", error.Message);
        Assert.Throws<InvalidInputException>(() => Tiny.EncodePair("un", "low , un want", 5, TruncationStrategy.OnlyFirst));
    }

    [Fact]
    public void None_ThrowsWhenTooLong_AndPassesWhenItFits()
    {
        var error = Assert.Throws<InvalidInputException>(() => Tiny.EncodePair("un want wa", "low", 5, TruncationStrategy.None));
        Assert.Contains("3 + 1 tokens", error.Message);
        Assert.Equal(7, Tiny.EncodePair("un want wa", "low", 7, TruncationStrategy.None).Length);
    }

    [Fact]
    public void MaxLengthBelowSpecials_IsAnArgumentError()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Tiny.EncodePair("a", "b", 2));
        Assert.Equal(new[] { 2, 3 }, Tiny.EncodePair("want", null, 2).InputIds);
    }
}
