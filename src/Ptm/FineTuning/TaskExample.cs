namespace Ptm.FineTuning;

/// <summary>One row of a task file. <see cref="Label"/> is the raw text of the label column (a class name, a
/// number for similarity, a 0-based choice index for multiple choice, the answer text for span QA), or null when the
/// file has none (prediction). Tagging fills <see cref="Words"/> and <see cref="Tags"/> (Text is the words joined by
/// spaces); span QA has the question in Text, the context in TextPair and the answer's character offset in
/// <see cref="AnswerStart"/> (-1 when unknown).</summary>
public sealed record TaskExample(int Line, string Text, string? TextPair, IReadOnlyList<string>? Choices, string? Label,
    IReadOnlyList<string>? Words = null, IReadOnlyList<string>? Tags = null, int AnswerStart = -1);

/// <summary>Which columns (CSV/TSV header names, JSONL field names) hold each part of an example.
/// For span QA the answer text is read from <see cref="Answer"/>, or from <see cref="Label"/> when the file has no such column.</summary>
public sealed record TaskColumns(string Text = "text", string TextPair = "text_pair", string Label = "label", string Choices = "choices",
    string Tokens = "tokens", string Tags = "tags", string Question = "question", string Context = "context",
    string AnswerStart = "answer_start", string Answer = "answer");

/// <summary>The examples of one file, with the file's name for error messages.</summary>
public sealed record TaskData(string Source, IReadOnlyList<TaskExample> Examples)
{
    /// <summary>The name in-memory examples go by in messages.</summary>
    public const string InMemorySource = "(in-memory examples)";

    /// <summary>How many examples there are.</summary>
    public int Count => Examples.Count;

    /// <summary>Classification examples held in memory: a text and its class name each (for <see cref="FineTuneTask.Classify"/>).</summary>
    public static TaskData Classification(IEnumerable<(string Text, string Label)> examples) =>
        new(InMemorySource, examples.Select((e, i) => new TaskExample(i + 1, e.Text, null, null, e.Label)).ToList());

    /// <summary>Sentence-pair examples held in memory: two texts and their class name each (for <see cref="FineTuneTask.Pair"/>).</summary>
    public static TaskData Pairs(IEnumerable<(string Text, string TextPair, string Label)> examples) =>
        new(InMemorySource, examples.Select((e, i) => new TaskExample(i + 1, e.Text, e.TextPair, null, e.Label)).ToList());
}
