using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ptm.FineTuning;
using Ptm.IO;
using Ptm.Prompting;

namespace Ptm.Cli.Commands;

/// <summary>`ptm prompt`: zero- and few-shot predictions of a GPT language model on a task file, with the metrics of `ptm evaluate`.</summary>
static class PromptCommand
{
    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "GPT model folder, run folder (its latest checkpoint) or Hugging Face GPT-2 folder", Required = true };
        var task = new Option<string>("--task") { Description = "classify | pair | choice | span", Required = true };
        var file = new Option<string>("--file") { Description = "examples to predict (.csv, .tsv or .jsonl); with labels, metrics are printed", Required = true };
        var train = new Option<string?>("--train") { Description = "training examples the demonstrations are drawn from (needed for --shots > 0)" };
        var template = new Option<string?>("--template") { Description = "prompt with {text}, {text_pair} and one {label} (the answer slot); \\n and \\t are newline and tab, {{ and }} literal braces" };
        var verbalizer = new Option<string?>("--verbalizer") { Description = "label=word,label=word (answer words; unlisted labels stand for themselves)" };
        var shots = new Option<int>("--shots") { Description = "demonstrations per prompt (0: zero-shot)", DefaultValueFactory = _ => 0 };
        var selection = new Option<string>("--demo-selection") { Description = "random | balanced | nearest (by GPT embedding similarity)", DefaultValueFactory = _ => "random" };
        var calibration = new Option<string>("--calibration") { Description = "none | contextual | pmi, or several comma-separated (the first decides the predictions)", DefaultValueFactory = _ => "none" };
        var seed = new Option<long>("--seed") { Description = "seed of the demonstration draw", DefaultValueFactory = _ => 1 };
        var normalize = new Option<bool>("--length-normalize") { Description = "score an answer by its mean token log-probability instead of the sum" };
        var truncation = new Option<string>("--truncation") { Description = "left | middle: which part of a too-long query field is cut (demonstrations are dropped first)", DefaultValueFactory = _ => "left" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "span: most tokens generated per answer", DefaultValueFactory = _ => 12 };
        var limit = new Option<int>("--limit") { Description = "score a seeded random subset of this many examples (0: all)", DefaultValueFactory = _ => 0 };
        var sampleSeed = new Option<long>("--sample-seed") { Description = "seed of the --limit subset", DefaultValueFactory = _ => 20261207 };
        var output = new Option<string?>("--out") { Description = "metrics JSON (default: <file>.prompt.json)" };
        var predictions = new Option<string?>("--predictions") { Description = "predictions, one JSON object per line" };
        var threads = CommonOptions.Threads();
        var command = new Command("prompt", "Zero- and few-shot predictions of a GPT from a prompt template, with metrics (no weights change)")
        {
            model, task, file, train, template, verbalizer, shots, selection, calibration, seed, normalize, truncation, maxNew, limit, sampleSeed, output, predictions, threads,
        };
        var columns = TaskFileOptions.AddTo(command);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            var t = FineTuneTasks.Parse(r.GetValue(task)!, "--task");
            var cols = columns.Columns(r);
            string path = r.GetValue(file)!;
            var data = TaskFile.Read(path, t, cols, requireLabel: false);
            if (r.GetValue(limit) is > 0 and var n && n < data.Count)
                data = data with { Examples = DemonstrationSelector.Random(data.Count, n, r.GetValue(sampleSeed)).Order().Select(i => data.Examples[i]).ToList() };
            var trainData = r.GetValue(train) is { } tp ? TaskFile.Read(tp, t, cols) : null;
            var calibrations = r.GetValue(calibration)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(c => PromptCalibration.Parse(c, "--calibration")).Distinct().ToList();
            var options = new PromptOptions
            {
                Template = r.GetValue(template) is { } tt ? Unescape(tt) : null,
                Verbalizer = r.GetValue(verbalizer) is { } v ? Verbalizer.Parse(v) : Verbalizer.Identity,
                Shots = r.GetValue(shots),
                Selection = DemonstrationSelector.Parse(r.GetValue(selection)!, "--demo-selection"),
                Seed = r.GetValue(seed),
                Calibrations = calibrations,
                LengthNormalize = r.GetValue(normalize),
                Truncation = r.GetValue(truncation) switch
                {
                    "left" => QueryTruncation.Left,
                    "middle" => QueryTruncation.Middle,
                    var s => throw new InvalidInputException($"--truncation must be left or middle (got \"{s}\")"),
                },
                MaxNewTokens = r.GetValue(maxNew),
            };
            using var loaded = LoadedModel.Load(r.GetValue(model)!);
            var gpt = loaded.Gpt ?? throw new InvalidInputException($"{loaded.Directory}: model_type is \"{loaded.Family.ModelType}\" ({loaded.Description}); prompting needs a GPT language model");
            var run = new PromptPredictor(gpt, loaded.Tokenizer).Run(t, trainData, data, options);

            var json = new Dictionary<string, object?>
            {
                ["file"] = path, ["task"] = FineTuneTasks.Name(t), ["examples"] = data.Count, ["model"] = loaded.Directory,
                ["template"] = options.Template ?? PromptOptions.DefaultTemplate(t), ["shots"] = options.Shots,
                ["demo_selection"] = r.GetValue(selection), ["seed"] = options.Seed, ["length_normalize"] = options.LengthNormalize,
                ["demonstrations_mean"] = run.MeanDemonstrations, ["truncated_queries"] = run.TruncatedQueries, ["prefix_passes"] = run.PrefixPasses,
            };
            Console.WriteLine($"examples      {data.Count}");
            Console.WriteLine($"demos/prompt  {run.MeanDemonstrations.ToString("F2", CultureInfo.InvariantCulture)} of {options.Shots} fitted (n_positions {gpt.Config.NPositions}); {run.TruncatedQueries} queries cut");
            if (run.Spans is { } spans)
            {
                Console.WriteLine($"exact match   {spans.ExactMatch:F4}");
                Console.WriteLine($"F1            {spans.F1:F4}");
                json["exact_match"] = spans.ExactMatch; json["f1"] = spans.F1;
            }
            var names = run.Labels ?? Enumerable.Range(0, run.Predictions[0].RawScores.Length).Select(i => $"choice {i}").ToList();
            if (t != FineTuneTask.Span && run.Gold is not null)
            {
                var byCalibration = new Dictionary<string, object?>();
                foreach (var c in calibrations)
                {
                    var m = run.Classification(c)!;
                    Console.WriteLine($"calibration   {PromptCalibration.Name(c)}");
                    Console.WriteLine($"accuracy      {m.Accuracy:F4}");
                    Console.WriteLine($"macro-F1      {m.MacroF1:F4}");
                    Console.Write(EvaluateCommand.Confusion(m.Confusion, names));
                    byCalibration[PromptCalibration.Name(c)] = new Dictionary<string, object?>
                    {
                        ["accuracy"] = m.Accuracy, ["macro_f1"] = m.MacroF1,
                        ["confusion"] = Enumerable.Range(0, names.Count).Select(g => Enumerable.Range(0, names.Count).Select(p => m.Confusion[g, p]).ToArray()).ToArray(),
                    };
                }
                json["labels"] = names;
                json["calibrations"] = byCalibration;
                json["accuracy"] = run.Classification(calibrations[0])!.Accuracy;
            }
            if (r.GetValue(predictions) is { } predPath)
            {
                var sb = new StringBuilder();
                for (int i = 0; i < run.Predictions.Count; i++)
                {
                    var p = run.Predictions[i];
                    var record = new Dictionary<string, object?> { ["line"] = p.Line };
                    if (t == FineTuneTask.Span) record["answer"] = p.Generated;
                    else
                    {
                        var probs = p.Probabilities(calibrations[0]);
                        if (t == FineTuneTask.Choice) { record["choice"] = p.Predicted; record["probabilities"] = probs; }
                        else { record["label"] = names[p.Predicted]; record["probabilities"] = names.Select((nm, j) => (nm, j)).ToDictionary(x => x.nm, x => probs[x.j]); }
                    }
                    if (data.Examples[i].Label is { } gold) record["gold"] = gold;
                    sb.Append(JsonSerializer.Serialize(record, Compact)).Append('\n');
                }
                AtomicFile.WriteAllText(predPath, sb.ToString());
                Console.WriteLine($"{run.Predictions.Count} predictions written to {predPath}");
            }
            string outPath = r.GetValue(output) ?? path + ".prompt.json";
            AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(json, JsonFiles.Indented));
            Console.WriteLine($"metrics written to {outPath}");
            return 0;
        }));
        return command;
    }

    /// <summary>A shell argument's \n, \t and \\ as newline, tab and backslash.</summary>
    static string Unescape(string s)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && i + 1 < s.Length)
            {
                char c = s[i + 1];
                if (c is 'n' or 't' or '\\') { sb.Append(c == 'n' ? '\n' : c == 't' ? '\t' : '\\'); i++; continue; }
            }
            sb.Append(s[i]);
        }
        return sb.ToString();
    }
}
