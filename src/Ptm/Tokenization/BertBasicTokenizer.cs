using System.Text;

namespace Ptm.Tokenization;

/// <summary>A word from <see cref="BertBasicTokenizer"/>: its normalised text and the span
/// [<paramref name="Start"/>, <paramref name="End"/>) of the original text it came from.</summary>
public readonly record struct BasicToken(string Text, int Start, int End);

/// <summary>
/// The text-to-words step of BERT, following Google's tokenization.py BasicTokenizer (the reference): drop NUL,
/// U+FFFD and control characters (categories Cc and Cf; unassigned and private-use code points stay and become
/// the unknown token); treat whitespace as separators; put each CJK ideograph in a word of its own;
/// optionally lower-case and strip accents; split off every punctuation character as its own word.
/// Special tokens such as [CLS] are matched literally (case-sensitive) anywhere in the text, as Hugging Face's
/// BertTokenizer does, and pass through untouched. Every word keeps the span of original text it came from.
/// </summary>
/// <remarks>
/// Known differences from Python: lower-casing is .NET's simple per-code-point mapping, except that U+0130 (İ) maps
/// to "i" + U+0307 like Python's full mapping; Python's context-dependent final sigma (Σ → ς at a word's end) is not
/// applied, so "ΟΔΟΣ" gives "οδοσ". Text is read by code point, so a character outside the BMP (a surrogate pair) is one
/// character everywhere; a lone surrogate, which is not a character and has no UTF-8 form, is read as U+FFFD and so is
/// removed by text cleaning. Hugging Face's BertTokenizer also removes unassigned (Cn) and private-use (Co) code points;
/// Google's reference, followed here, keeps them.
/// </remarks>
public sealed class BertBasicTokenizer
{
    readonly Dictionary<char, string[]> specialsByFirstChar;
    // ASCII characters that may start a special token, checked before the ASCII fast path.
    readonly bool[] specialFirstChars = new bool[128];

    /// <summary>A basic tokenizer with Hugging Face BertTokenizer's defaults (lower-cased, accents stripped, CJK split, text cleaned).</summary>
    /// <param name="lowerCase">BERT's do_lower_case.</param>
    /// <param name="stripAccents">null follows <paramref name="lowerCase"/>, as in BERT / Hugging Face.</param>
    /// <param name="tokenizeChineseChars">Put spaces around CJK ideographs.</param>
    /// <param name="cleanText">Remove NUL, U+FFFD and control characters.</param>
    /// <param name="neverSplit">Literal tokens kept whole and not normalised (typically the special tokens).</param>
    public BertBasicTokenizer(bool lowerCase = true, bool? stripAccents = null, bool tokenizeChineseChars = true,
        bool cleanText = true, IEnumerable<string>? neverSplit = null)
    {
        LowerCase = lowerCase;
        StripAccents = stripAccents ?? lowerCase;
        TokenizeChineseChars = tokenizeChineseChars;
        CleanText = cleanText;
        NeverSplit = (neverSplit ?? Array.Empty<string>()).Where(s => s.Length > 0).Distinct(StringComparer.Ordinal).ToArray();
        // Longest first, so that of two specials starting at the same place the longer one wins.
        foreach (string special in NeverSplit)
            if (special[0] < 128) specialFirstChars[special[0]] = true;
        specialsByFirstChar = NeverSplit.GroupBy(s => s[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(s => s.Length).ThenBy(s => s, StringComparer.Ordinal).ToArray());
    }

    /// <summary>Whether words are lower-cased (<c>do_lower_case</c>).</summary>
    public bool LowerCase { get; }
    /// <summary>Whether accents are stripped (<c>strip_accents</c>); a null constructor argument resolves to <see cref="LowerCase"/>.</summary>
    public bool StripAccents { get; }
    /// <summary>Whether each CJK ideograph becomes a word of its own (<c>tokenize_chinese_chars</c>).</summary>
    public bool TokenizeChineseChars { get; }
    /// <summary>Whether NUL, U+FFFD and control characters are removed (<c>clean_text</c>).</summary>
    public bool CleanText { get; }
    /// <summary>The literal tokens kept whole, distinct and non-empty, matched case-sensitively (<c>never_split</c>).</summary>
    public IReadOnlyList<string> NeverSplit { get; }

    /// <summary>Splits <paramref name="text"/> into normalised words with their original spans.</summary>
    public IReadOnlyList<BasicToken> Tokenize(string text)
    {
        var output = new OffsetText();
        var words = new List<(int Start, int Length)>();
        Tokenize(text, output, words);
        return words.Select(w => new BasicToken(new string(output.Slice(w.Start, w.Length)),
            output.StartOf(w.Start), output.EndOf(w.Start + w.Length - 1))).ToArray();
    }

    /// <summary>
    /// Writes the normalised words into <paramref name="output"/> one after another and their ranges into
    /// <paramref name="words"/> (both cleared first). Each output character carries its original span.
    /// Each character is normalised as it is read (lower-casing and accent stripping work per code point), and a
    /// whitespace-separated word is split on punctuation when it ends.
    /// </summary>
    internal void Tokenize(string text, OffsetText output, List<(int Start, int Length)> words)
    {
        ArgumentNullException.ThrowIfNull(text);
        output.Clear();
        words.Clear();
        int wordStart = 0;   // where the current whitespace-separated word begins in output
        Span<char> units = stackalloc char[2];
        for (int i = 0; i < text.Length;)
        {
            char c = text[i];
            if (c < 128 && !specialFirstChars[c])
            {
                // ASCII fast path; same decisions as the general path below.
                var cls = AsciiClasses[c];
                if (cls == AsciiClass.Control && CleanText) { }   // removed
                else if (cls == AsciiClass.Whitespace || (cls == AsciiClass.Control && BertCharacterClasses.IsWhitespace(new Rune(c))))
                    EndWord(ref wordStart, output, words);
                else output.Append(LowerCase && c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c, i, i + 1);
                i++;
                continue;
            }

            if (specialsByFirstChar.Count > 0 && MatchSpecial(text, i) is { } special)
            {
                EndWord(ref wordStart, output, words);
                // Each char of a special maps to the whole special, so any slice of it maps to the whole token.
                output.Append(special, i, i + special.Length);
                words.Add((wordStart, special.Length));
                wordStart = output.Count;
                i += special.Length;
                continue;
            }

            // A lone surrogate decodes as U+FFFD (length 1), which cleaning removes like BERT removes U+FFFD.
            Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out int length);
            int cp = rune.Value;
            if (CleanText && (cp == 0 || cp == 0xFFFD || BertCharacterClasses.IsControl(rune)))
            {
                // Removed: a word continues across it ("ab\0cd" is one word), as in _clean_text.
            }
            else if (BertCharacterClasses.IsWhitespace(rune))
            {
                EndWord(ref wordStart, output, words);
            }
            else if (TokenizeChineseChars && BertCharacterClasses.IsCjkIdeograph(cp))
            {
                EndWord(ref wordStart, output, words);
                AppendNormalized(rune, i, i + length, output, units);
                EndWord(ref wordStart, output, words);
            }
            else
            {
                AppendNormalized(rune, i, i + length, output, units);
            }
            i += length;
        }
        EndWord(ref wordStart, output, words);
    }

    enum AsciiClass : byte { Normal, Whitespace, Control }

    /// <summary>BERT's classes of the ASCII characters, so the common case needs no Unicode lookups. Punctuation is
    /// found later, when a word is split.</summary>
    static readonly AsciiClass[] AsciiClasses = Enumerable.Range(0, 128).Select(c =>
        c == 0 || BertCharacterClasses.IsControl(new Rune(c)) ? AsciiClass.Control
        : BertCharacterClasses.IsWhitespace(new Rune(c)) ? AsciiClass.Whitespace
        : AsciiClass.Normal).ToArray();

    string? MatchSpecial(string text, int at)
    {
        if (!specialsByFirstChar.TryGetValue(text[at], out string[]? candidates)) return null;
        foreach (string s in candidates)
            if (string.CompareOrdinal(text, at, s, 0, s.Length) == 0) return s;
        return null;
    }

    /// <summary>Lower-cases (Python's str.lower() per code point) and strips accents as configured.</summary>
    void AppendNormalized(Rune r, int start, int end, OffsetText output, Span<char> units)
    {
        if (LowerCase)
        {
            if (r.Value == 0x130)
            {
                // Python's full lower-case mapping of İ is "i" + combining dot above (U+0307).
                AppendStripped(new Rune('i'), start, end, output, units);
                AppendStripped(new Rune(0x307), start, end, output, units);
                return;
            }
            r = Rune.ToLowerInvariant(r);
        }
        AppendStripped(r, start, end, output, units);
    }

    void AppendStripped(Rune r, int start, int end, OffsetText output, Span<char> units)
    {
        if (StripAccents) AccentFolding.Append(r, output, start, end);
        else output.Append(units[..r.EncodeToUtf16(units)], start, end);
    }

    /// <summary>Ends the whitespace-separated word that began at <paramref name="wordStart"/> in the output,
    /// splitting it on punctuation (BERT's _run_split_on_punc).</summary>
    static void EndWord(ref int wordStart, OffsetText output, List<(int Start, int Length)> words)
    {
        if (output.Count > wordStart) SplitOnPunctuation(wordStart, output, words);
        wordStart = output.Count;
    }

    static void SplitOnPunctuation(int from, OffsetText output, List<(int Start, int Length)> words)
    {
        ReadOnlySpan<char> chars = output.Chars;
        int wordStart = from;
        for (int i = from; i < chars.Length;)
        {
            if (chars[i] < 128)
            {
                if (IsAsciiPunctuation(chars[i]))
                {
                    if (i > wordStart) words.Add((wordStart, i - wordStart));
                    words.Add((i, 1));
                    wordStart = i + 1;
                }
                i++;
                continue;
            }
            Rune.DecodeFromUtf16(chars[i..], out Rune r, out int length);
            if (BertCharacterClasses.IsPunctuation(r))
            {
                if (i > wordStart) words.Add((wordStart, i - wordStart));
                words.Add((i, length));
                wordStart = i + length;
            }
            i += length;
        }
        if (chars.Length > wordStart) words.Add((wordStart, chars.Length - wordStart));
    }

    static bool IsAsciiPunctuation(char c) => c is (>= '!' and <= '/') or (>= ':' and <= '@') or (>= '[' and <= '`') or (>= '{' and <= '~');
}
