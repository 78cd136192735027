using System.CommandLine;
using Ptm.FineTuning;

namespace Ptm.Cli.Commands;

/// <summary>The column options shared by finetune, evaluate and predict.</summary>
sealed record TaskFileOptions(Option<string> Text, Option<string> TextPair, Option<string> Label, Option<string> Choices)
{
    // Token-level tasks' columns (tag: words and tags; span: question, context, answer offset and text).
    public Option<string> Tokens { get; } = new("--tokens") { Description = "tag: column with the words (space-separated, or a JSON array in JSONL)", DefaultValueFactory = _ => "tokens" };
    public Option<string> Tags { get; } = new("--tags") { Description = "tag: column with one tag per word (space-separated, or a JSON array)", DefaultValueFactory = _ => "tags" };
    public Option<string> Question { get; } = new("--question") { Description = "span: column with the question", DefaultValueFactory = _ => "question" };
    public Option<string> Context { get; } = new("--context") { Description = "span: column with the context the answer is taken from", DefaultValueFactory = _ => "context" };
    public Option<string> AnswerStart { get; } = new("--answer-start") { Description = "span: column with the answer's character offset in the context", DefaultValueFactory = _ => "answer_start" };
    public Option<string> Answer { get; } = new("--answer") { Description = "span: column with the answer text (if the file has none, --label's column)", DefaultValueFactory = _ => "answer" };

    public static TaskFileOptions AddTo(Command command)
    {
        var o = new TaskFileOptions(
            new Option<string>("--text") { Description = "column with the text (the context for choice)", DefaultValueFactory = _ => "text" },
            new Option<string>("--text-pair") { Description = "column with the second text (pair, similarity)", DefaultValueFactory = _ => "text_pair" },
            new Option<string>("--label") { Description = "column with the label (class name, score, or 0-based choice index)", DefaultValueFactory = _ => "label" },
            new Option<string>("--choices") { Description = "column with the choices: a JSON array in JSONL, '|'-separated in CSV/TSV", DefaultValueFactory = _ => "choices" });
        command.Options.Add(o.Text);
        command.Options.Add(o.TextPair);
        command.Options.Add(o.Label);
        command.Options.Add(o.Choices);
        foreach (var option in new[] { o.Tokens, o.Tags, o.Question, o.Context, o.AnswerStart, o.Answer }) command.Options.Add(option);
        return o;
    }

    public TaskColumns Columns(ParseResult r) => new(r.GetValue(Text)!, r.GetValue(TextPair)!, r.GetValue(Label)!, r.GetValue(Choices)!,
        r.GetValue(Tokens)!, r.GetValue(Tags)!, r.GetValue(Question)!, r.GetValue(Context)!, r.GetValue(AnswerStart)!, r.GetValue(Answer)!);

    /// <summary>Prints the truncation warning of an encoded file, if any (to stderr, like the other warnings).</summary>
    public static void Warn(EncodedTaskSet set, FineTuneTask task, int maxLength)
    {
        if (set.TruncationWarning(task, maxLength) is { } w) Console.Error.WriteLine(w);
    }
}
