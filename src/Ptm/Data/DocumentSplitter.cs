namespace Ptm.Data;

/// <summary>
/// Cuts one document into several so a corpus of a single text (one file, one string) can still be split into
/// training and validation documents, and BERT's next-sentence task can draw a sentence B from another document.
/// </summary>
/// <remarks>
/// Paragraphs (runs of lines separated by blank lines) are the first choice: they are the natural unit of a text
/// without form feeds. A text of one paragraph is cut into at most <see cref="MaxChunks"/> runs of whole lines of
/// about equal length. A text of one line stays one document.
/// </remarks>
public static class DocumentSplitter
{
    /// <summary>How many runs of lines a text of one paragraph is cut into, at most.</summary>
    public const int MaxChunks = 10;

    /// <summary>The paragraphs of <paramref name="document"/>, else runs of its lines, else the document itself;
    /// the parts are numbered from 0.</summary>
    public static IReadOnlyList<TextDocument> Split(TextDocument document)
    {
        string[] lines = document.Text.TrimEnd('\n').Split('\n');
        var paragraphs = new List<string>();
        var current = new List<string>();
        foreach (string line in lines)
        {
            if (line.AsSpan().Trim(" \t\r").IsEmpty)
            {
                if (current.Count > 0) paragraphs.Add(string.Join('\n', current) + "\n");
                current.Clear();
            }
            else current.Add(line);
        }
        if (current.Count > 0) paragraphs.Add(string.Join('\n', current) + "\n");

        if (paragraphs.Count < 2)
        {
            var textLines = lines.Where(l => !l.AsSpan().Trim(" \t\r").IsEmpty).ToList();
            if (textLines.Count < 2) return [document];
            int chunks = Math.Min(MaxChunks, textLines.Count);
            paragraphs.Clear();
            for (int c = 0; c < chunks; c++)
            {
                int from = (int)((long)c * textLines.Count / chunks), to = (int)((long)(c + 1) * textLines.Count / chunks);
                paragraphs.Add(string.Join('\n', textLines.Skip(from).Take(to - from)) + "\n");
            }
        }
        return paragraphs.Select((text, i) => new TextDocument(document.Path, i, text)).ToList();
    }
}
