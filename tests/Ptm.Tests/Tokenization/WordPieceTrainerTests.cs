using System.Diagnostics;
using Ptm.Tokenization;
using Xunit.Abstractions;

namespace Ptm.Tests.Tokenization;

public class WordPieceTrainerTests(ITestOutputHelper output)
{
    static readonly string[] Specials = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };

    [Fact]
    public void HandExample_MergesByCountThenStringOrder()
    {
        // Words ab, ba, abc → [a ##b] [b ##a] [a ##b ##c]. (a,##b) = 2 merges first → "ab"; then (ab,##c) and (b,##a)
        // tie at 1 and "ab" < "b" → "abc"; then "ba".
        var t = WordPieceTokenizer.Train(new[] { "AB ba", "abc" }, 100);
        Assert.Equal(Specials.Concat(new[] { "a", "b", "c", "##a", "##b", "##c", "ab", "abc", "ba" }), t.Vocabulary);
    }

    [Fact]
    public void MergedToken_KeepsThePrefixOfItsLeftPart()
    {
        // [x ##y ##z]: (##y,##z) and (x,##y) tie; "##y" < "x" ordinally, so "##yz" comes first, then "xyz".
        var t = WordPieceTokenizer.Train(new[] { "xyz" }, 100);
        Assert.Equal(Specials.Concat(new[] { "x", "y", "z", "##x", "##y", "##z", "##yz", "xyz" }), t.Vocabulary);
    }

    [Fact]
    public void StopsAtVocabSize_AndCasedKeepsCase()
    {
        var t = WordPieceTokenizer.Train(new[] { "AB ba", "abc" }, 15, doLowerCase: false);
        Assert.Equal(15, t.VocabSize);
        Assert.False(t.DoLowerCase);
        Assert.Contains("A", t.Vocabulary);
        Assert.Contains("##B", t.Vocabulary);
    }

    [Fact]
    public void SpecialTokensInCorpus_AreNotLearnedFrom()
    {
        var t = WordPieceTokenizer.Train(new[] { "[CLS] hi [SEP]" }, 100);
        Assert.Equal(Specials.Concat(new[] { "h", "i", "##h", "##i", "hi" }), t.Vocabulary);
    }

    [Fact]
    public void TooSmallVocab_IsAnArgumentError()
    {
        var e = Assert.Throws<ArgumentException>(() => WordPieceTokenizer.Train(new[] { "abc" }, 10));
        Assert.Contains("too small", e.Message);
        Assert.Contains("need 11", e.Message);
    }

    [Fact]
    public void EmptyCorpus_IsInvalidInput()
    {
        Assert.Throws<InvalidInputException>(() => WordPieceTokenizer.Train(Array.Empty<string>(), 100));
        Assert.Throws<InvalidInputException>(() => WordPieceTokenizer.Train(new[] { " \n\t\0 " }, 100));
    }

    [Fact]
    public void Kjv4000_IsQuickDeterministicAndCoversTheCorpus()
    {
        var sw = Stopwatch.StartNew();
        var t = WordPieceTokenizer.Train(KjvWordPiece.Lines, 4000);
        output.WriteLine($"trained 4000 tokens on {new FileInfo(KjvWordPiece.TrainPath).Length / 1e6:F1} MB in {sw.Elapsed.TotalSeconds:F2} s");
        Assert.Equal(4000, t.VocabSize);
        Assert.Equal(Specials, t.Vocabulary.Take(5));
        Assert.Equal(KjvWordPiece.Uncased.Vocabulary, t.Vocabulary);   // same input, same result

        // Input order does not matter: word counts are the same.
        var reversed = WordPieceTokenizer.Train(KjvWordPiece.Lines.Reverse(), 4000);
        Assert.Equal(t.Vocabulary, reversed.Vocabulary);

        foreach (string line in KjvWordPiece.Lines.Where((_, i) => i % 50 == 0))
            Assert.DoesNotContain(t.UnkId, t.Encode(line));
        Assert.Contains("the", t.Vocabulary);
        Assert.Contains("lord", t.Vocabulary);
    }
}
