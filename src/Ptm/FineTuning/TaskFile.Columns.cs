namespace Ptm.FineTuning;

public static partial class TaskFile
{
    /// <summary>The file extensions <see cref="Read"/>, <see cref="ReadSeq2Seq"/> and <see cref="ReadColumns"/> accept.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".csv", ".tsv", ".tab", ".jsonl", ".ndjson"];

    /// <summary>Whether <paramref name="path"/> names a task file by its extension (see <see cref="Extensions"/>).</summary>
    public static bool HasTaskExtension(string path) => Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>
    /// Reads the text of <paramref name="columns"/> from every example of a task file (CSV, TSV or JSONL, as
    /// <see cref="Read"/>), in file order: per example its line and one text per column, in the order of
    /// <paramref name="columns"/>, kept as written.
    /// </summary>
    /// <exception cref="InvalidInputException">The file is missing, malformed or empty, lacks a column, or an example
    /// lacks a field; the message names the file (and line) and the column.</exception>
    public static IReadOnlyList<(int Line, string[] Texts)> ReadColumns(string path, IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0) throw new ArgumentException("no columns to read", nameof(columns));
        var table = ReadTable(path);
        foreach (string c in columns)
            if (!table.Columns.Contains(c))
                throw new InvalidInputException($"{path}: unknown column '{c}' (the file has: {string.Join(", ", table.Columns)})");
        return table.Rows.Select(row => (row.Line, columns.Select(c => row.Fields.TryGetValue(c, out var v) && v is string s ? s
            : throw new InvalidInputException($"{path}, line {row.Line}: field '{c}' is missing or not a text")).ToArray())).ToList();
    }
}
