using System.CommandLine;
using System.Text;
using System.Text.Json;
using Ptm.FineTuning;
using Ptm.IO;
using Ptm.Training;

namespace Ptm.Cli.Commands;

/// <summary>`ptm evaluate`: a fine-tuned model's metrics on a labelled file, printed and written as JSON.</summary>
static class EvaluateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "fine-tuned model folder, or a fine-tuning run folder; with a .txt file, a pre-trained BERT (model or run folder)", Required = true };
        var file = new Option<string>("--file") { Description = "labelled examples (.csv, .tsv or .jsonl; seq2seq: source and target columns), or plain text (.txt) for a BERT's masked-word and content-word accuracy", Required = true };
        file.Aliases.Add("--input");
        var output = new Option<string?>("--out") { Description = "metrics JSON (default: <file>.metrics.json)" };
        var batch = new Option<int>("--batch-size") { Description = "examples per forward pass", DefaultValueFactory = _ => 32 };
        var threads = CommonOptions.Threads();
        var command = new Command("evaluate", "Accuracy, macro-F1 and confusion matrix (or Pearson/Spearman, or seq2seq BLEU and chrF) of a fine-tuned model") { model, file, output, batch, threads };
        var columns = TaskFileOptions.AddTo(command);
        var decoding = Seq2SeqCommands.DecodingFlags.AddTo(command);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            if (Seq2SeqCommands.IsSeq2SeqModel(r.GetValue(model)!))
                return Seq2SeqCommands.Evaluate(r.GetValue(model)!, r.GetValue(file)!, r.GetValue(output), decoding.Options(r, Math.Max(1, r.GetValue(batch))));
            decoding.RefuseFor(r, r.GetValue(model)!);
            if (Path.GetExtension(r.GetValue(file)!) == ".txt") return MaskedWords(r.GetValue(model)!, r.GetValue(file)!, r.GetValue(output), Math.Max(1, r.GetValue(batch)));
            using var ft = FineTuneModel.Load(r.GetValue(model)!);
            string path = r.GetValue(file)!;
            var set = ft.Encode(TaskFile.Read(path, ft.Task, columns.Columns(r)), requireLabels: true);
            TaskFileOptions.Warn(set, ft.Task, ft.Info.MaxLength);
            var predictions = FineTuneTasks.IsTokenLevel(ft.Task) ? [] : ft.Predict(set, Math.Max(1, r.GetValue(batch)));
            var json = new Dictionary<string, object?> { ["file"] = path, ["task"] = ft.Info.Task, ["examples"] = set.Count, ["truncated"] = set.TruncatedCount };
            Console.WriteLine($"examples      {set.Data.Count}");
            json["examples"] = set.Data.Count;
            int size = Math.Max(1, r.GetValue(batch));
            if (ft.Task == FineTuneTask.Tag)
            {
                var m = TokenTaskScores.Tagging(ft, set, size);
                Console.WriteLine($"entity P/R/F1 {m.Precision:F4} / {m.Recall:F4} / {m.F1:F4}   ({m.GoldEntities} gold, {m.PredictedEntities} predicted entities)");
                Console.WriteLine($"token acc.    {m.TokenAccuracy:F4}   ({m.Words} words)");
                json["entity_precision"] = m.Precision; json["entity_recall"] = m.Recall; json["entity_f1"] = m.F1; json["token_accuracy"] = m.TokenAccuracy;
            }
            else if (ft.Task == FineTuneTask.Span)
            {
                var m = TokenTaskScores.Spans(ft, set, size);
                Console.WriteLine($"exact match   {m.ExactMatch:F4}");
                Console.WriteLine($"F1            {m.F1:F4}");
                json["exact_match"] = m.ExactMatch; json["f1"] = m.F1;
            }
            else if (ft.Task == FineTuneTask.Similarity)
            {
                var m = TaskMetrics.Correlation(set.Examples.Select(e => (double)e.Score).ToList(), predictions.Select(p => (double)p.Score).ToList());
                Console.WriteLine($"pearson       {m.Pearson:F4}");
                Console.WriteLine($"spearman      {m.Spearman:F4}");
                Console.WriteLine($"mse           {m.Mse:F4}");
                json["pearson"] = m.Pearson; json["spearman"] = m.Spearman; json["mse"] = m.Mse;
            }
            else
            {
                var names = ft.Labels?.Labels ?? Enumerable.Range(0, set.Examples[0].Sequences.Length).Select(i => $"choice {i}").ToList();
                var m = TaskMetrics.Classification(set.Examples.Select(e => e.Class).ToList(), predictions.Select(p => p.Class).ToList(), names.Count);
                Console.WriteLine($"accuracy      {m.Accuracy:F4}");
                Console.WriteLine($"macro-F1      {m.MacroF1:F4}");
                Console.Write(Confusion(m.Confusion, names));
                json["accuracy"] = m.Accuracy; json["macro_f1"] = m.MacroF1; json["labels"] = names;
                json["confusion"] = Enumerable.Range(0, names.Count).Select(g => Enumerable.Range(0, names.Count).Select(p => m.Confusion[g, p]).ToArray()).ToArray();
            }
            string outPath = r.GetValue(output) ?? path + ".metrics.json";
            AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(json, JsonFiles.Indented));
            Console.WriteLine($"metrics written to {outPath}");
            return 0;
        }));
        return command;
    }

    /// <summary>A pre-trained BERT's masked-word and content-word accuracy on held-out text (<see cref="MaskedWordEvaluation"/>).</summary>
    static int MaskedWords(string modelPath, string path, string? outPath, int batch)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file");
        using var loaded = LoadedModel.Load(modelPath);
        if (loaded.Bert is null || loaded.Tokenizer is not Ptm.Tokenization.WordPieceTokenizer wordPiece)
            throw new InvalidInputException($"{modelPath}: a .txt file is scored by masked-word accuracy, which needs a pre-trained BERT model (found {loaded.Description})");
        var options = new MaskedWordEvaluationOptions { BatchSize = batch };
        var m = MaskedWordEvaluation.Evaluate(loaded.Bert, wordPiece, File.ReadLines(path), options);
        Console.WriteLine($"sequences     {m.Sequences} (of at most {options.MaxSeqLength} tokens; {options.MaskedFraction:P0} of each one's words masked whole)");
        Console.WriteLine($"word acc.     {m.WordAccuracy:F4}   ({m.Words} masked words)");
        Console.WriteLine($"content acc.  {m.ContentAccuracy:F4}   ({m.ContentWords} masked content words)");
        var json = new Dictionary<string, object?>
        {
            ["file"] = path, ["sequences"] = m.Sequences, ["masked_words"] = m.Words, ["word_accuracy"] = m.WordAccuracy,
            ["masked_content_words"] = m.ContentWords, ["content_word_accuracy"] = m.ContentAccuracy,
        };
        outPath ??= path + ".metrics.json";
        AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(json, JsonFiles.Indented));
        Console.WriteLine($"metrics written to {outPath}");
        return 0;
    }

    /// <summary>Rows are gold labels, columns predictions (numbered, with the names listed on the rows).</summary>
    internal static string Confusion(int[,] confusion, IReadOnlyList<string> names)
    {
        int n = names.Count;
        int nameWidth = Math.Min(24, names.Max(s => s.Length));
        int cell = Math.Max(4, confusion.Cast<int>().Max().ToString().Length + 1);
        var sb = new StringBuilder("confusion matrix (rows: gold, columns: predicted)\n");
        sb.Append(new string(' ', nameWidth + 5));
        for (int p = 0; p < n; p++) sb.Append($"[{p}]".PadLeft(cell));
        sb.Append('\n');
        for (int g = 0; g < n; g++)
        {
            string name = names[g].Length > nameWidth ? names[g][..nameWidth] : names[g];
            sb.Append($"[{g}]".PadLeft(4)).Append(' ').Append(name.PadRight(nameWidth));
            for (int p = 0; p < n; p++) sb.Append(confusion[g, p].ToString().PadLeft(cell));
            sb.Append('\n');
        }
        return sb.ToString();
    }
}
