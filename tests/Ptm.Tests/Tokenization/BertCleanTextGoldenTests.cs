using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>
/// Exact ids and offsets for the characters BERT's text cleaning treats specially, worked out by hand from Google's
/// tokenization.py: _clean_text drops NUL, U+FFFD and categories Cc/Cf (not \t \n \r, which become spaces);
/// _tokenize_chinese_chars isolates CJK ideographs (U+20000 too); words split on whitespace, are lower-cased and
/// accent-stripped (NFD, drop Mn), split on punctuation; then WordPiece matches greedily, longest first, and a word
/// with an unmatchable rest is one [UNK]. Unassigned (Cn), noncharacter and private-use (Co) code points are not
/// control characters there: they stay and become [UNK], or their own token when the vocabulary has one.
/// </summary>
public class BertCleanTextGoldenTests
{
    static readonly string[] Vocab =
    {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",        // 0-4
        "a", "##b", "b", "\uE000", "\U0001F600",             // 5-9: U+E000 private use, U+1F600 GRINNING FACE
        "\U00020000", "cafe", ",", "##\U0001F600", "x",      // 10-14: U+20000 CJK Ext B
    };

    static readonly WordPieceTokenizer Tokenizer = new(Vocab, new WordPieceSettings());

    static CharSpan S(int start, int end) => new(start, end);

    static void Check(string text, int[] ids, CharSpan[] offsets)
    {
        var (actualIds, actualOffsets) = Tokenizer.EncodeWithOffsets(text);
        Assert.Equal(ids, actualIds);
        Assert.Equal(offsets, actualOffsets);
    }

    [Fact]
    public void UnassignedCodePoints_StayAndBecomeUnknown()
    {
        // U+0378 (unassigned in every Unicode version) is neither whitespace nor punctuation: "a\u0378" is one word,
        // "a" matches but "##\u0378" does not, so the whole word is [UNK].
        Check("a\u0378 b", [1, 7], [S(0, 2), S(3, 4)]);
        Check("a\u0378,b", [1, 12, 7], [S(0, 2), S(2, 3), S(3, 4)]);
        // Noncharacters (category Cn) likewise.
        Check("x \uFDD0 \uFFFE", [14, 1, 1], [S(0, 1), S(2, 3), S(4, 5)]);
    }

    [Fact]
    public void PrivateUseCodePoints_AreTokensWhenTheVocabularyHasThem()
    {
        Check("\uE000 \uE001", [8, 1], [S(0, 1), S(2, 3)]);
        // Plane 15 private use, a surrogate pair: one [UNK] over both UTF-16 units.
        Check("\U000F0000 b", [1, 7], [S(0, 2), S(3, 4)]);
    }

    [Fact]
    public void ControlAndFormatCharacters_AreRemovedInsideTheWord()
    {
        // ZERO WIDTH SPACE, SOFT HYPHEN, BOM (Cf) and NEL (Cc): removed before the whitespace split, so "ab" stays
        // one word ("a" "##b"); Python's str.split() would split on NEL, but cleaning has removed it by then.
        foreach (char c in "\u200B\u00AD\uFEFF\u0085")
            Check($"a{c}b", [5, 6], [S(0, 1), S(2, 3)]);
        // TAG LATIN CAPITAL LETTER A (U+E0041, Cf) is outside the BMP: both of its UTF-16 units go.
        Check("b\U000E0041", [7], [S(0, 1)]);
        // A lone surrogate is not a character: read as U+FFFD, which cleaning removes.
        Check("a\uD800b", [5, 6], [S(0, 1), S(2, 3)]);
        // \t \n \r separate words.
        Check("a\tb\nb\rb", [5, 7, 7, 7], [S(0, 1), S(2, 3), S(4, 5), S(6, 7)]);
    }

    [Fact]
    public void CharactersOutsideTheBmp_AreSingleCodePoints()
    {
        // U+1F600 is a symbol (So), so it continues the word: "x" then "##😀".
        Check("x\U0001F600", [14, 13], [S(0, 1), S(1, 3)]);
        Check("\U0001F600\U0001F600", [9, 13], [S(0, 2), S(2, 4)]);
        // U+20000 is a CJK ideograph (Extension B): a word of its own between "a" and "b".
        Check("a\U00020000b", [5, 10, 7], [S(0, 1), S(1, 3), S(3, 4)]);
        // The 100-character limit counts code points: 100 emoji fit, 101 are one [UNK].
        string hundred = string.Concat(Enumerable.Repeat("\U0001F600", 100));
        Assert.Equal([9, .. Enumerable.Repeat(13, 99)], Tokenizer.Encode(hundred));
        Assert.Equal([1], Tokenizer.Encode(hundred + "\U0001F600"));
    }

    [Fact]
    public void LowerCasingAndAccentStripping_KeepOffsetsOnTheOriginal()
    {
        // "Café" → "cafe" (é = e + U+0301, the mark dropped), then "," split off.
        Check("Café,", [11, 12], [S(0, 4), S(4, 5)]);
        // A decomposed é: the combining mark maps to nothing, so the word's span ends before it.
        Check("Cafe\u0301,", [11, 12], [S(0, 4), S(5, 6)]);
    }

    [Fact]
    public void BasicTokenizer_KeepsUnassignedAndPrivateUseInTheWords()
    {
        var words = new BertBasicTokenizer(lowerCase: false).Tokenize("a\u0378b \uE000\u200B\uFFFE");
        Assert.Equal([new BasicToken("a\u0378b", 0, 3), new BasicToken("\uE000\uFFFE", 4, 7)], words);
    }
}
