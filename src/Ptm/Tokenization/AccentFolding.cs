using System.Globalization;
using System.Text;

namespace Ptm.Tokenization;

/// <summary>
/// BERT's accent stripping (tokenization.py, _run_strip_accents): NFD-decompose, then drop every non-spacing
/// mark (category Mn). The project runs with InvariantGlobalization, where string.Normalize does not decompose,
/// so the decompositions come from a generated table (AccentFolding.Table.cs) and, for Hangul, the Unicode formula.
/// Works one code point at a time so callers can keep each output character's source offsets.
/// </summary>
internal static partial class AccentFolding
{
    static readonly Dictionary<int, string> folded = Parse(Table);

    /// <summary>Appends what <paramref name="rune"/> becomes after NFD + dropping Mn marks (possibly nothing).</summary>
    public static void Append(Rune rune, OffsetText output, int start, int end)
    {
        void append(char c) => output.Append(c, start, end);
        int cp = rune.Value;
        if (Rune.GetUnicodeCategory(rune) == UnicodeCategory.NonSpacingMark) return;
        if (folded.TryGetValue(cp, out string? replacement))
        {
            foreach (char c in replacement) append(c);
            return;
        }
        if (cp is >= HangulFirst and <= HangulLast)
        {
            // Unicode 3.12: a precomposed syllable is L V (T) jamo. The jamo are letters (Lo), so BERT keeps them.
            int index = cp - HangulFirst;
            append((char)(0x1100 + index / (21 * 28)));
            append((char)(0x1161 + index % (21 * 28) / 28));
            if (index % 28 != 0) append((char)(0x11A7 + index % 28));
            return;
        }
        Span<char> units = stackalloc char[2];
        output.Append(units[..rune.EncodeToUtf16(units)], start, end);
    }

    const int HangulFirst = 0xAC00, HangulLast = 0xD7A3;

    static Dictionary<int, string> Parse(string table)
    {
        var result = new Dictionary<int, string>(2100);
        foreach (string entry in table.Split(';'))
        {
            int eq = entry.IndexOf('=');
            int cp = int.Parse(entry.AsSpan(0, eq), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            var sb = new StringBuilder(4);
            foreach (string part in entry[(eq + 1)..].Split(' '))
                sb.Append(char.ConvertFromUtf32(int.Parse(part, NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            result.Add(cp, sb.ToString());
        }
        return result;
    }
}
