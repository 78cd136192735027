using System.Globalization;
using System.Text;

namespace Ptm.Tokenization;

/// <summary>
/// The character classes of Google BERT's tokenization.py (_is_whitespace, _is_control, _is_punctuation,
/// _is_chinese_char), by code point so characters outside the BMP are classified like Python does.
/// </summary>
internal static class BertCharacterClasses
{
    /// <summary>
    /// BERT's _is_whitespace (space, \t, \n, \r, category Zs) plus what Python's str.split() also splits on once
    /// control characters are gone: U+2028/U+2029 (categories Zl/Zp, which _is_control keeps), and the C0/C1
    /// separators that only survive when text cleaning is off.
    /// </summary>
    public static bool IsWhitespace(Rune r)
    {
        int cp = r.Value;
        if (cp is ' ' or '\t' or '\n' or '\r' or 0x0B or 0x0C or (>= 0x1C and <= 0x1F) or 0x85 or 0x2028 or 0x2029) return true;
        return Rune.GetUnicodeCategory(r) == UnicodeCategory.SpaceSeparator;
    }

    /// <summary>
    /// _is_control of Google's tokenization.py: categories Cc (control) and Cf (format) except \t \n \r, which BERT
    /// treats as whitespace. Private-use (Co) and unassigned (Cn) code points, noncharacters such as U+FDD0 and U+FFFE
    /// included, are not control characters: they stay in the text and become the unknown token unless the vocabulary
    /// has them. (Hugging Face's BertTokenizer and its tokenizers library test for any category C* instead, so they
    /// drop those code points.)
    /// </summary>
    public static bool IsControl(Rune r)
    {
        if (r.Value is '\t' or '\n' or '\r') return false;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.Control or UnicodeCategory.Format;
    }

    /// <summary>_is_punctuation: all non-alphanumeric ASCII (so $ ^ ` + &lt; = &gt; | ~ count too) and category P*.</summary>
    public static bool IsPunctuation(Rune r)
    {
        int cp = r.Value;
        if (cp is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126)) return true;
        return Rune.GetUnicodeCategory(r) is UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation
            or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
            or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>_is_chinese_char: the CJK Unified Ideographs blocks BERT lists. Hiragana, Katakana and Hangul are
    /// deliberately not included (they are written with spaces, per BERT's comment).</summary>
    public static bool IsCjkIdeograph(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);
}
