namespace Ptm.FineTuning;

/// <summary>One sequence-to-sequence example: a source text and the target text the model should write (null when
/// predicting). <see cref="Line"/> is where it came from in its file.</summary>
public sealed record Seq2SeqExample(int Line, string Source, string? Target);

public static partial class TaskFile
{
    /// <summary>
    /// Reads sequence-to-sequence examples (CSV, TSV or JSONL, as <see cref="Read"/>) from the columns
    /// <paramref name="sourceColumn"/> and <paramref name="targetColumn"/>; the target column may be absent when
    /// <paramref name="requireTarget"/> is false (prediction). Texts are kept as written (not trimmed).
    /// </summary>
    /// <exception cref="InvalidInputException">The file is missing, malformed, empty or lacks a column; the message names the file and line.</exception>
    public static IReadOnlyList<Seq2SeqExample> ReadSeq2Seq(string path, string sourceColumn = "source", string targetColumn = "target", bool requireTarget = true)
    {
        var table = ReadTable(path);
        bool hasTarget = table.Columns.Contains(targetColumn);
        foreach (string c in requireTarget ? [sourceColumn, targetColumn] : new[] { sourceColumn })
            if (!table.Columns.Contains(c))
                throw new InvalidInputException($"{path}: unknown column '{c}' (the file has: {string.Join(", ", table.Columns)})");
        return table.Rows.Select(row =>
        {
            string Text(string column) => row.Fields.TryGetValue(column, out var v) && v is string s ? s
                : throw new InvalidInputException($"{path}, line {row.Line}: field '{column}' is missing or not a text");
            return new Seq2SeqExample(row.Line, Text(sourceColumn), hasTarget ? Text(targetColumn) : null);
        }).ToList();
    }
}
