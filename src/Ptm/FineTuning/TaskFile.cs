using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Ptm.FineTuning;

/// <summary>
/// Reads task examples from CSV (RFC 4180 quoting, header row), TSV (header row, no quoting) or JSONL (one object
/// per line), chosen by the file extension. In CSV/TSV a choices field is split on '|'; in JSONL it is an array.
/// Every problem is an <see cref="InvalidInputException"/> naming the file and, where there is one, the line.
/// </summary>
public static partial class TaskFile
{
    /// <summary>Splits a CSV/TSV choices field into its choices.</summary>
    public const char ChoiceSeparator = '|';

    /// <summary>
    /// Longest record read, in characters: 1 Mi (a line of TSV or JSONL, a CSV record with its quoted newlines).
    /// An example is at most a few thousand tokens long, so a longer record is a mistake (a binary file, a missing
    /// line break) and is refused as soon as the limit is passed, without reading the rest of it into memory.
    /// </summary>
    public const int MaxRecordChars = 1 << 20;

    /// <summary>Reads the examples of <paramref name="path"/> for <paramref name="task"/>.</summary>
    /// <param name="path">A .csv, .tsv/.tab or .jsonl/.ndjson file.</param>
    /// <param name="task">Decides which columns are read and how.</param>
    /// <param name="columns">The names of the columns to read.</param>
    /// <param name="requireLabel">False for prediction, where the label column may be absent.</param>
    public static TaskData Read(string path, FineTuneTask task, TaskColumns columns, bool requireLabel = true)
    {
        var rows = ReadTable(path);
        if (task == FineTuneTask.Tag) return ReadTags(path, rows, columns, requireLabel);
        if (task == FineTuneTask.Span) return ReadSpans(path, rows, columns, requireLabel);

        var needed = new List<string> { columns.Text };
        if (FineTuneTasks.NeedsPair(task)) needed.Add(columns.TextPair);
        if (task == FineTuneTask.Choice) needed.Add(columns.Choices);
        bool hasLabel = rows.Columns.Contains(columns.Label);
        if (requireLabel) needed.Add(columns.Label);
        foreach (var c in needed)
            if (!rows.Columns.Contains(c))
                throw new InvalidInputException($"{path}: unknown column '{c}' (the file has: {string.Join(", ", rows.Columns)})");

        var examples = new List<TaskExample>(rows.Rows.Count);
        int? choiceCount = null;
        int choiceLine = 0;
        foreach (var row in rows.Rows)
        {
            string Text(string column) => row.Fields.TryGetValue(column, out var v) && v is string s ? s
                : throw new InvalidInputException($"{path}, line {row.Line}: field '{column}' is missing or not a text");
            string text = Text(columns.Text);
            string? pair = FineTuneTasks.NeedsPair(task) ? Text(columns.TextPair) : null;
            IReadOnlyList<string>? choices = null;
            if (task == FineTuneTask.Choice)
            {
                choices = row.Fields.GetValueOrDefault(columns.Choices) switch
                {
                    string[] array => array,
                    string s => s.Split(ChoiceSeparator),
                    _ => throw new InvalidInputException($"{path}, line {row.Line}: field '{columns.Choices}' is missing"),
                };
                if (choices.Count < 2) throw new InvalidInputException($"{path}, line {row.Line}: {choices.Count} choice(s); multiple choice needs at least 2");
                if (choiceCount is int k && k != choices.Count)
                    throw new InvalidInputException($"{path}, line {row.Line}: {choices.Count} choices, but line {choiceLine} has {k}; every example needs the same number");
                choiceCount ??= choices.Count;
                if (choiceLine == 0) choiceLine = row.Line;
            }
            string? label = hasLabel ? Text(columns.Label).Trim() : null;
            if (label is { Length: 0 } && requireLabel) throw new InvalidInputException($"{path}, line {row.Line}: empty label");
            examples.Add(new TaskExample(row.Line, text, pair, choices, label));
        }
        return new TaskData(path, examples);
    }

    sealed record Row(int Line, Dictionary<string, object> Fields);
    sealed record Table(IReadOnlyList<string> Columns, List<Row> Rows);

    // The examples of a .csv, .tsv/.tab or .jsonl/.ndjson file, refusing a missing, unknown or empty one.
    static Table ReadTable(string path)
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
        return table;
    }

    static Table ReadDelimited(string path, char separator)
    {
        var records = separator == ',' ? CsvRecords(path) : Lines(path).Select(l => (l.Line, Fields: l.Text.TrimEnd('\r').Split('\t')))
            .Where(r => !(r.Fields.Length == 1 && r.Fields[0].Length == 0)).ToList();
        if (records.Count == 0) throw new InvalidInputException($"{path}: the file is empty (expected a header row and examples)");
        var header = records[0].Fields.Select(h => h.Trim()).ToArray();
        var rows = new List<Row>(records.Count - 1);
        foreach (var (line, fields) in records.Skip(1))
        {
            if (fields.Length != header.Length)
                throw new InvalidInputException($"{path}, line {line}: {fields.Length} fields, but the header has {header.Length}");
            var dict = new Dictionary<string, object>(StringComparer.Ordinal);
            for (int i = 0; i < header.Length; i++) dict[header[i]] = fields[i];
            rows.Add(new Row(line, dict));
        }
        return new Table(header, rows);
    }

    /// <summary>RFC 4180: fields separated by commas, optionally in double quotes (which may hold commas, newlines and
    /// doubled quotes). Blank lines are skipped. Returns each record with the line it starts on. Read as a stream:
    /// a record over <see cref="MaxRecordChars"/> is refused when the limit is passed.</summary>
    static List<(int Line, string[] Fields)> CsvRecords(string path)
    {
        var records = new List<(int, string[])>();
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, recordLine = 1, recordChars = 0;
        bool quoted = false, wasQuoted = false;
        void EndField() { fields.Add(field.ToString()); field.Clear(); wasQuoted = false; }
        void EndRecord()
        {
            EndField();
            if (!(fields.Count == 1 && fields[0].Length == 0)) records.Add((recordLine, fields.ToArray()));
            fields.Clear();
            recordChars = 0;
        }
        using var reader = OpenText(path);
        int next;
        while ((next = reader.Read()) >= 0)
        {
            char c = (char)next;
            if (++recordChars > MaxRecordChars) throw TooLong(path, recordLine, "record");
            if (quoted)
            {
                if (c == '"' && reader.Peek() == '"') { field.Append('"'); reader.Read(); recordChars++; continue; }
                if (c == '"') { quoted = false; continue; }
                if (c == '\n') line++;
                field.Append(c);
                continue;
            }
            switch (c)
            {
                case '"' when field.Length == 0 && !wasQuoted: quoted = wasQuoted = true; break;
                case ',': EndField(); break;
                case '\r': break;
                case '\n': EndRecord(); line++; recordLine = line; break;
                default: field.Append(c); break;
            }
        }
        if (quoted) throw new InvalidInputException($"{path}, line {recordLine}: a quoted field is not closed");
        EndRecord();
        return records;
    }

    /// <summary>The file's lines split at '\n' (a '\r' before it is kept), numbered from 1, each refused when it
    /// passes <see cref="MaxRecordChars"/>; the text after the last '\n' is the last line, possibly empty.</summary>
    static IEnumerable<(int Line, string Text)> Lines(string path)
    {
        using var reader = OpenText(path);
        var text = new StringBuilder();
        var buffer = new char[16384];
        int line = 1, read;
        while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            for (int i = 0; i < read; i++)
            {
                char c = buffer[i];
                if (c == '\n')
                {
                    yield return (line++, text.ToString());
                    text.Clear();
                }
                else if (text.Length == MaxRecordChars) throw TooLong(path, line, "line");
                else text.Append(c);
            }
        }
        yield return (line, text.ToString());
    }

    static StreamReader OpenText(string path)
    {
        try { return new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read the file ({e.Message})", e);
        }
    }

    static InvalidInputException TooLong(string path, int line, string what) =>
        new($"{path}, line {line}: the {what} is longer than {MaxRecordChars} characters (TaskFile.MaxRecordChars); is this a task file?");

    static Table ReadJsonLines(string path)
    {
        var rows = new List<Row>();
        var columns = new List<string>();
        foreach (var (line, raw) in Lines(path))
        {
            if (string.IsNullOrWhiteSpace(raw)) continue;
            IO.JsonFiles.CheckSurrogateEscapes(raw.AsSpan(), $"{path}, line {line}");
            JsonDocument doc;
            try { doc = JsonDocument.Parse(raw); }
            catch (JsonException e) { throw new InvalidInputException($"{path}, line {line}: not valid JSON ({e.Message.Split('\n')[0]})"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new InvalidInputException($"{path}, line {line}: expected a JSON object, found a {doc.RootElement.ValueKind}");
                var dict = new Dictionary<string, object>(StringComparer.Ordinal);
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    object? value = p.Value.ValueKind switch
                    {
                        JsonValueKind.String => p.Value.GetString()!,
                        JsonValueKind.Number => p.Value.GetRawText(),
                        JsonValueKind.True or JsonValueKind.False => p.Value.GetRawText(),
                        JsonValueKind.Array => p.Value.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? e.GetString()!
                            : throw new InvalidInputException($"{path}, line {line}: field '{p.Name}' must be an array of strings")).ToArray(),
                        _ => null,
                    };
                    if (value is null) continue;
                    dict[p.Name] = value;
                    if (!columns.Contains(p.Name)) columns.Add(p.Name);
                }
                rows.Add(new Row(line, dict));
            }
        }
        return new Table(columns, rows);
    }

    /// <summary>Splits examples into train and validation by a seeded shuffle: the same seed, the same split.</summary>
    public static (TaskData Train, TaskData Validation) Split(TaskData data, double validationFraction, long seed)
    {
        if (validationFraction is <= 0 or >= 1) throw new InvalidOptionException(nameof(FineTuningOptions), nameof(FineTuningOptions.ValidationSplit), "must be in (0, 1)", validationFraction.ToString(CultureInfo.InvariantCulture));
        int n = data.Count;
        int held = Math.Max(1, (int)Math.Round(n * validationFraction));
        if (n - held < 1) throw new InvalidInputException($"{data.Source}: {n} example(s) are too few to split off a validation set; give validation examples");
        var order = Enumerable.Range(0, n).ToArray();
        var rng = Data.SplitMix64.ForStep((ulong)seed, -1);
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)rng.NextBelow((ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        var validation = order.Take(held).Order().Select(i => data.Examples[i]).ToList();
        var train = order.Skip(held).Order().Select(i => data.Examples[i]).ToList();
        return (new TaskData(data.Source + " (train part)", train), new TaskData(data.Source + " (validation part)", validation));
    }
}
