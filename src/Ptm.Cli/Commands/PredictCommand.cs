using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ptm.FineTuning;
using Ptm.IO;

namespace Ptm.Cli.Commands;

/// <summary>`ptm predict`: one JSON line per example with the predicted label (or choice, or score) and probabilities.</summary>
static class PredictCommand
{
    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "fine-tuned model folder, or a fine-tuning run folder", Required = true };
        var file = new Option<string>("--file") { Description = "examples (.csv, .tsv or .jsonl); a label (seq2seq: target) column is not needed", Required = true };
        file.Aliases.Add("--input");
        var output = new Option<string>("--out") { Description = "predictions, one JSON object per line (seq2seq: one target per line, or JSON objects for a .jsonl file)", Required = true };
        output.Aliases.Add("--output");
        var batch = new Option<int>("--batch-size") { Description = "examples per forward pass", DefaultValueFactory = _ => 32 };
        var threads = CommonOptions.Threads();
        var command = new Command("predict", "Predictions of a fine-tuned model: labels with probabilities as JSONL, or seq2seq targets") { model, file, output, batch, threads };
        var columns = TaskFileOptions.AddTo(command);
        var decoding = Seq2SeqCommands.DecodingFlags.AddTo(command);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            if (Seq2SeqCommands.IsSeq2SeqModel(r.GetValue(model)!))
                return Seq2SeqCommands.Predict(r.GetValue(model)!, r.GetValue(file)!, r.GetValue(output)!, decoding.Options(r, Math.Max(1, r.GetValue(batch))));
            decoding.RefuseFor(r, r.GetValue(model)!);
            using var ft = FineTuneModel.Load(r.GetValue(model)!);
            string path = r.GetValue(file)!;
            var data = TaskFile.Read(path, ft.Task, columns.Columns(r), requireLabel: false);
            var set = ft.Encode(data, requireLabels: false);
            TaskFileOptions.Warn(set, ft.Task, ft.Info.MaxLength);
            if (FineTuneTasks.IsTokenLevel(ft.Task))
            {
                string written = TokenPredictions.Write(ft, data, set, Math.Max(1, r.GetValue(batch)), r.GetValue(output)!);
                Console.WriteLine(written);
                return 0;
            }
            var predictions = ft.Predict(set, Math.Max(1, r.GetValue(batch)));
            var sb = new StringBuilder();
            for (int i = 0; i < predictions.Count; i++)
            {
                var p = predictions[i];
                var record = new Dictionary<string, object?> { ["line"] = data.Examples[i].Line };
                switch (ft.Task)
                {
                    case FineTuneTask.Similarity: record["score"] = p.Score; break;
                    case FineTuneTask.Choice: record["choice"] = p.Class; record["probabilities"] = p.Probabilities; break;
                    default:
                        var names = ft.Labels!.Labels;
                        record["label"] = names[p.Class];
                        record["probabilities"] = names.Select((n, j) => (n, j)).ToDictionary(x => x.n, x => p.Probabilities[x.j]);
                        break;
                }
                if (data.Examples[i].Label is { } gold) record["gold"] = gold;
                sb.Append(JsonSerializer.Serialize(record, Compact)).Append('\n');
            }
            string outPath = r.GetValue(output)!;
            AtomicFile.WriteAllText(outPath, sb.ToString());
            Console.WriteLine($"{predictions.Count} predictions written to {outPath}");
            return 0;
        }));
        return command;
    }
}
