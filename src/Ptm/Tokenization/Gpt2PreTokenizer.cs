using System.Globalization;
using System.Text;

namespace Ptm.Tokenization;

/// <summary>
/// Splits text the way GPT-2's pattern does (openai/gpt-2 encoder.py):
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.
/// Hand-written instead of a .NET Regex because .NET matches \p{L} per UTF-16 unit, so a letter outside the
/// BMP (CJK extension B, mathematical letters) would not count as a letter, while Python's regex module and
/// JavaScript's /u work per code point. This scanner classifies whole code points, and is also faster.
/// \s is the Unicode White_Space property (Rune.IsWhiteSpace), which is what Python's regex module uses.
/// </summary>
internal static class Gpt2PreTokenizer
{
    enum Kind : byte { Letter, Number, Space, Other }

    static readonly Kind[] asciiKinds = BuildAsciiKinds();

    /// <summary>Appends the range of each pre-token of <paramref name="text"/> to <paramref name="pieces"/>, in order.</summary>
    public static void Split(ReadOnlySpan<char> text, List<Range> pieces)
    {
        int i = 0;
        while (i < text.Length)
        {
            int length = PieceLength(text, i);
            pieces.Add(new Range(i, i + length));
            i += length;
        }
    }

    /// <summary>Length in UTF-16 units of the pre-token that starts at <paramref name="start"/>. Mirrors the
    /// regex alternatives in order; a regex picks the first alternative that matches at this position.</summary>
    public static int PieceLength(ReadOnlySpan<char> text, int start)
    {
        // 's|'t|'re|'ve|'m|'ll|'d (ASCII apostrophe, case-sensitive, exactly as GPT-2)
        if (text[start] == '\'' && start + 1 < text.Length)
        {
            char a = text[start + 1];
            if (a is 's' or 't' or 'm' or 'd') return 2;
            if (start + 2 < text.Length)
            {
                char b = text[start + 2];
                if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
            }
        }

        Kind kind = Classify(text, start, out int width);

        // " ?X+" for X in letters, numbers, other: a single U+0020 joins the run that follows it.
        if (text[start] == ' ' && start + 1 < text.Length)
        {
            Kind next = Classify(text, start + 1, out _);
            if (next != Kind.Space) return 1 + RunLength(text, start + 1, next);
        }
        if (kind != Kind.Space) return RunLength(text, start, kind);

        // \s+(?!\S): a whitespace run that ends the text, or all of it but its last character, which is left
        // to start the next piece (so " word" keeps its space). \s+ catches a lone whitespace before a non-space.
        int end = start + width, last = width;
        while (end < text.Length)
        {
            if (Classify(text, end, out int w) != Kind.Space) break;
            last = w;
            end += w;
        }
        if (end == text.Length || end - last == start) return end - start;
        return end - last - start;
    }

    static int RunLength(ReadOnlySpan<char> text, int start, Kind kind)
    {
        int i = start;
        while (i < text.Length && Classify(text, i, out int w) == kind) i += w;
        return i - start;
    }

    static Kind Classify(ReadOnlySpan<char> text, int index, out int width)
    {
        char c = text[index];
        if (c < 128) { width = 1; return asciiKinds[c]; }
        // A lone surrogate decodes as U+FFFD (a symbol, so "other"), one unit wide.
        Rune.DecodeFromUtf16(text[index..], out Rune rune, out width);
        if (Rune.IsWhiteSpace(rune)) return Kind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }

    static Kind[] BuildAsciiKinds()
    {
        var kinds = new Kind[128];
        for (int c = 0; c < 128; c++)
            kinds[c] = char.IsAsciiLetter((char)c) ? Kind.Letter
                : char.IsAsciiDigit((char)c) ? Kind.Number
                : char.IsWhiteSpace((char)c) ? Kind.Space
                : Kind.Other;
        return kinds;
    }
}
