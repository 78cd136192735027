using System.CommandLine;
using Ptm.FineTuning;

namespace Ptm.Cli.Commands;

/// <summary>The column options shared by finetune, evaluate and predict.</summary>
sealed record TaskFileOptions(Option<string> Text, Option<string> TextPair, Option<string> Label, Option<string> Choices)
{
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
        return o;
    }

    public TaskColumns Columns(ParseResult r) => new(r.GetValue(Text)!, r.GetValue(TextPair)!, r.GetValue(Label)!, r.GetValue(Choices)!);

    /// <summary>Prints the truncation warning of an encoded file, if any (to stderr, like the other warnings).</summary>
    public static void Warn(EncodedTaskSet set, int maxLength)
    {
        if (set.TruncationWarning(maxLength) is { } w) Console.Error.WriteLine(w);
    }
}
