namespace Ptm.FineTuning;

/// <summary>One row of a task file. <see cref="Label"/> is the raw text of the label column (a class name, a
/// number for similarity, a 0-based choice index for multiple choice), or null when the file has none (prediction).</summary>
public sealed record TaskExample(int Line, string Text, string? TextPair, IReadOnlyList<string>? Choices, string? Label);

/// <summary>Which columns (CSV/TSV header names, JSONL field names) hold each part of an example.</summary>
public sealed record TaskColumns(string Text = "text", string TextPair = "text_pair", string Label = "label", string Choices = "choices");

/// <summary>The examples of one file, with the file's name for error messages.</summary>
public sealed record TaskData(string Source, IReadOnlyList<TaskExample> Examples)
{
    public int Count => Examples.Count;
}
