namespace Ptm.FineTuning;

/// <summary>One sequence-to-sequence example: the text to transform and the expected output.</summary>
public sealed record SourceTargetPair(int Line, string Source, string Target);

public static partial class TaskFile
{
    /// <summary>Reads <paramref name="path"/> (.csv, .tsv or .jsonl, as <see cref="Read"/>) as sequence-to-sequence
    /// examples from the columns <paramref name="sourceColumn"/> and <paramref name="targetColumn"/>; other columns are
    /// ignored.</summary>
    /// <exception cref="InvalidInputException">The file is missing, empty, of unknown format, or lacks a column or field.</exception>
    public static IReadOnlyList<SourceTargetPair> ReadSourceTarget(string path, string sourceColumn = "source", string targetColumn = "target")
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        var table = ext switch
        {
            ".csv" => ReadDelimited(path, ','),
            ".tsv" or ".tab" => ReadDelimited(path, '\t'),
            ".jsonl" or ".ndjson" => ReadJsonLines(path),
            _ => throw new InvalidInputException($"{path}: unknown format '{ext}'; expected .csv, .tsv or .jsonl"),
        };
        if (table.Rows.Count == 0) throw new InvalidInputException($"{path}: the file has no examples");
        foreach (var c in new[] { sourceColumn, targetColumn })
            if (!table.Columns.Contains(c))
                throw new InvalidInputException($"{path}: unknown column '{c}' (the file has: {string.Join(", ", table.Columns)})");
        return table.Rows.Select(row =>
        {
            string Text(string column) => row.Fields.TryGetValue(column, out var v) && v is string s ? s
                : throw new InvalidInputException($"{path}, line {row.Line}: field '{column}' is missing or not a text");
            return new SourceTargetPair(row.Line, Text(sourceColumn), Text(targetColumn));
        }).ToArray();
    }
}
