using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>BertBasicTokenizer against Google BERT's tokenization.py semantics, with hand-checked offsets.</summary>
public class BertTokBasicTests
{
    static readonly string[] Specials = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };

    static (string Text, int Start, int End)[] Words(BertBasicTokenizer t, string text) =>
        t.Tokenize(text).Select(w => (w.Text, w.Start, w.End)).ToArray();

    [Fact]
    public void RemovesControlsAndSplitsOnAllWhitespace()
    {
        var t = new BertBasicTokenizer(lowerCase: false);
        // NUL, U+FFFD and BEL vanish inside the word; \t \n \r, U+2028 and NBSP (Zs) separate words.
        string text = "  a\0b\uFFFDc\a \t\n\r d\u2028e\u00A0f";
        Assert.Equal(new[] { ("abc", 2, 7), ("d", 13, 14), ("e", 15, 16), ("f", 17, 18) }, Words(t, text));
    }

    [Fact]
    public void WithoutCleaning_ControlsStay()
    {
        var t = new BertBasicTokenizer(lowerCase: false, cleanText: false);
        Assert.Equal(new[] { ("a\0b", 0, 3) }, Words(t, "a\0b"));
    }

    [Fact]
    public void CjkIdeographs_BecomeWordsOfTheirOwn_ButKanaDoesNot()
    {
        var t = new BertBasicTokenizer(lowerCase: false);
        Assert.Equal(new[] { ("ab", 0, 2), ("中", 2, 3), ("文", 3, 4), ("cd", 4, 6) }, Words(t, "ab中文cd"));
        // U+20000 is outside the BMP: one word of two UTF-16 units.
        Assert.Equal(new[] { ("x", 0, 1), ("\U00020000", 1, 3), ("y", 3, 4) }, Words(t, "x\U00020000y"));
        Assert.Equal(new[] { ("ひらがな", 0, 4) }, Words(t, "ひらがな"));
        Assert.Equal(new[] { ("ab中文cd", 0, 6) }, Words(new BertBasicTokenizer(false, tokenizeChineseChars: false), "ab中文cd"));
    }

    [Fact]
    public void Punctuation_IsSplitOffOneCharacterAtATime()
    {
        var t = new BertBasicTokenizer(lowerCase: false);
        Assert.Equal(
            new[] { ("Hi", 0, 2), (",", 2, 3), ("!", 4, 5), ("!", 5, 6), ("$", 7, 8), ("5", 8, 9), ("a", 10, 11), ("-", 11, 12),
                    ("b", 12, 13), ("¿", 14, 15), ("qué", 15, 18), ("?", 18, 19), ("…", 19, 20) },
            Words(t, "Hi, !! $5 a-b ¿qué?…"));
    }

    [Fact]
    public void LowerCasingAndAccentStripping_KeepOffsetsOnTheOriginal()
    {
        var t = new BertBasicTokenizer(lowerCase: true);
        Assert.Equal(new[] { ("cafe", 0, 4), ("naive", 5, 10), ("angstrom", 11, 19) }, Words(t, "Café NAÏVE Ångström"));
        // Already decomposed: the combining acute (Mn) is dropped, so the word's span ends before it.
        Assert.Equal(new[] { ("cafe", 0, 4), ("!", 5, 6) }, Words(t, "Cafe\u0301!"));
        // U+212B ANGSTROM SIGN decomposes canonically to Å, then to A + ring.
        Assert.Equal(new[] { ("a", 0, 1) }, Words(t, "\u212B"));
    }

    [Fact]
    public void StripAccents_FollowsLowerCaseUnlessSet()
    {
        Assert.Equal("Cafe", new BertBasicTokenizer(lowerCase: false, stripAccents: true).Tokenize("Café")[0].Text);
        Assert.Equal("café", new BertBasicTokenizer(lowerCase: true, stripAccents: false).Tokenize("Café")[0].Text);
        Assert.Equal("Café", new BertBasicTokenizer(lowerCase: false).Tokenize("Café")[0].Text);
    }

    [Fact]
    public void PythonSpecificCasing()
    {
        var t = new BertBasicTokenizer(lowerCase: true);
        // Python: "İ".lower() == "i\u0307", and stripping the dot leaves "i".
        Assert.Equal("istanbul", t.Tokenize("İstanbul")[0].Text);
        // Hangul syllables decompose into conjoining jamo (letters, kept), as NFD does in BERT.
        Assert.Equal(new[] { ("\u1112\u1161\u11AB", 0, 1) }, Words(t, "한"));
        // Known difference: Python's lower() turns a word-final Σ into ς; we map Σ → σ everywhere.
        Assert.Equal("οδοσ", t.Tokenize("ΟΔΟΣ")[0].Text);
    }

    [Fact]
    public void SpecialTokens_AreKeptWholeAnywhere_OthersAreSplit()
    {
        var t = new BertBasicTokenizer(lowerCase: true, neverSplit: Specials);
        Assert.Equal(
            new[] { ("[CLS]", 0, 5), ("who", 6, 9), ("?", 9, 10), ("[SEP]", 11, 16), ("[MASK]", 16, 22), ("x", 22, 23), ("[", 24, 25), ("pad", 25, 28), ("]", 28, 29) },
            Words(t, "[CLS] Who? [SEP][MASK]x [pad]"));
        Assert.Equal(new[] { "[", "cls", "]" }, new BertBasicTokenizer(lowerCase: true).Tokenize("[CLS]").Select(w => w.Text));
    }

    [Fact]
    public void EmptyAndBlankText_GiveNoWords()
    {
        var t = new BertBasicTokenizer();
        Assert.Empty(t.Tokenize(""));
        Assert.Empty(t.Tokenize(" \t\n\0\u0301"));
    }
}
