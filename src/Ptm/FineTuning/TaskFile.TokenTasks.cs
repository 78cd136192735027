using System.Globalization;

namespace Ptm.FineTuning;

// Reading the token-level tasks: tagging (words and their tags) and span QA (question, context, answer offset).
public static partial class TaskFile
{
    static void RequireColumns(string path, Table rows, IEnumerable<string> needed)
    {
        foreach (var c in needed)
            if (!rows.Columns.Contains(c))
                throw new InvalidInputException($"{path}: unknown column '{c}' (the file has: {string.Join(", ", rows.Columns)})");
    }

    /// <summary>A word or tag list: a JSON array (JSONL), or whitespace-separated text (any format).</summary>
    static IReadOnlyList<string> Items(string path, Row row, string column) => row.Fields.GetValueOrDefault(column) switch
    {
        string[] array => array,
        string s => s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries),
        _ => throw new InvalidInputException($"{path}, line {row.Line}: field '{column}' is missing"),
    };

    static TaskData ReadTags(string path, Table rows, TaskColumns columns, bool requireLabel)
    {
        bool hasTags = rows.Columns.Contains(columns.Tags);
        RequireColumns(path, rows, requireLabel ? [columns.Tokens, columns.Tags] : [columns.Tokens]);
        var examples = new List<TaskExample>(rows.Rows.Count);
        foreach (var row in rows.Rows)
        {
            var words = Items(path, row, columns.Tokens);
            if (words.Count == 0) throw new InvalidInputException($"{path}, line {row.Line}: no words in '{columns.Tokens}'");
            IReadOnlyList<string>? tags = null;
            if (hasTags)
            {
                tags = Items(path, row, columns.Tags);
                if (tags.Count != words.Count)
                    throw new InvalidInputException($"{path}, line {row.Line}: {words.Count} words but {tags.Count} tags; every word needs one tag");
            }
            examples.Add(new TaskExample(row.Line, string.Join(' ', words), null, null, null, words, tags));
        }
        return new TaskData(path, examples);
    }

    static TaskData ReadSpans(string path, Table rows, TaskColumns columns, bool requireLabel)
    {
        // The answer text may sit in its own column or in the label column (--answer or --label).
        string answerColumn = rows.Columns.Contains(columns.Answer) ? columns.Answer : columns.Label;
        bool hasAnswer = rows.Columns.Contains(answerColumn) && rows.Columns.Contains(columns.AnswerStart);
        RequireColumns(path, rows, requireLabel ? [columns.Question, columns.Context, columns.AnswerStart, answerColumn] : [columns.Question, columns.Context]);
        var examples = new List<TaskExample>(rows.Rows.Count);
        foreach (var row in rows.Rows)
        {
            string Text(string column) => row.Fields.TryGetValue(column, out var v) && v is string s ? s
                : throw new InvalidInputException($"{path}, line {row.Line}: field '{column}' is missing or not a text");
            string question = Text(columns.Question), context = Text(columns.Context);
            string? answer = null;
            int start = -1;
            if (hasAnswer)
            {
                answer = Text(answerColumn);
                string raw = Text(columns.AnswerStart).Trim();
                if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out start))
                    throw new InvalidInputException($"{path}, line {row.Line}: '{columns.AnswerStart}' must be a character offset (got \"{raw}\")");
                CheckAnswer(path, row.Line, context, answer, start);
            }
            examples.Add(new TaskExample(row.Line, question, context, null, answer, AnswerStart: start));
        }
        return new TaskData(path, examples);
    }

    /// <summary>The answer must be exactly the context's text at its offset: a wrong offset would silently train the
    /// model on the wrong span.</summary>
    static void CheckAnswer(string path, int line, string context, string answer, int start)
    {
        if (answer.Trim().Length == 0) throw new InvalidInputException($"{path}, line {line}: empty answer");
        if (start < 0 || start > context.Length - answer.Length)
            throw new InvalidInputException($"{path}, line {line}: the answer \"{answer}\" at character {start} lies outside its context ({context.Length} characters)");
        if (string.CompareOrdinal(context, start, answer, 0, answer.Length) != 0)
            throw new InvalidInputException($"{path}, line {line}: the answer \"{answer}\" is not in the context at character {start} (found \"{context.Substring(start, answer.Length)}\")");
    }
}
