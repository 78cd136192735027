namespace Ptm.Data;

/// <summary>
/// Documents to sentences, the unit BERT's segments are built from. Deliberately simple (no abbreviation list):
/// a line is split after '.', '!' or '?' when whitespace and then an upper-case letter follow, so "Mr. Smith" splits
/// wrongly but "verse 3.14" and "and. then" do not. Lines are trimmed and empty lines skipped, so blank lines
/// between paragraphs never make empty segments.
/// </summary>
internal static class SentenceSplitter
{
    /// <summary>The trimmed, non-empty sentences of <paramref name="document"/>, in order.</summary>
    public static IReadOnlyList<string> Split(string document, SentenceSplitting mode)
    {
        var sentences = new List<string>();
        foreach (string rawLine in document.Split('\n'))
        {
            string line = rawLine.Trim();
            if (line.Length == 0) continue;
            if (mode == SentenceSplitting.Lines) { sentences.Add(line); continue; }
            int start = 0;
            for (int i = 0; i < line.Length - 1; i++)
            {
                if (line[i] is not ('.' or '!' or '?') || !char.IsWhiteSpace(line[i + 1])) continue;
                int next = i + 1;
                while (next < line.Length && char.IsWhiteSpace(line[next])) next++;
                if (next == line.Length || !char.IsUpper(line[next])) continue;
                sentences.Add(line[start..(i + 1)]);
                start = next;
                i = next - 1;
            }
            sentences.Add(line[start..]);
        }
        return sentences;
    }
}
