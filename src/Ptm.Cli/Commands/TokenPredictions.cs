using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ptm.FineTuning;
using Ptm.IO;

namespace Ptm.Cli.Commands;

/// <summary>`ptm predict` for tagging (a tag per word) and span QA (the answer, its character offset in the context
/// and the n-best with probabilities).</summary>
static class TokenPredictions
{
    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <returns>The line to print.</returns>
    public static string Write(FineTuneModel ft, TaskData data, EncodedTaskSet set, int batchSize, string outPath)
    {
        var sb = new StringBuilder();
        if (ft.Task == FineTuneTask.Tag)
        {
            var tags = ft.PredictTags(set, batchSize);
            for (int i = 0; i < data.Count; i++)
            {
                var e = data.Examples[i];
                var record = new Dictionary<string, object?> { ["line"] = e.Line, ["tokens"] = e.Words, ["tags"] = tags[i].Select(id => ft.Labels!.Labels[id]).ToArray() };
                if (e.Tags is not null) record["gold"] = e.Tags;
                sb.Append(JsonSerializer.Serialize(record, Compact)).Append('\n');
            }
        }
        else
        {
            var answers = ft.PredictSpans(set, batchSize);
            for (int i = 0; i < data.Count; i++)
            {
                var e = data.Examples[i];
                var best = answers[i].FirstOrDefault();
                var record = new Dictionary<string, object?>
                {
                    ["line"] = e.Line, ["answer"] = best?.Text ?? "", ["answer_start"] = best?.Start ?? -1,
                    ["probability"] = best?.Probability ?? 0,
                    ["n_best"] = answers[i].Select(a => new Dictionary<string, object> { ["text"] = a.Text, ["start"] = a.Start, ["probability"] = a.Probability }).ToArray(),
                };
                if (e.Label is not null) { record["gold"] = e.Label; record["gold_start"] = e.AnswerStart; }
                sb.Append(JsonSerializer.Serialize(record, Compact)).Append('\n');
            }
        }
        AtomicFile.WriteAllText(outPath, sb.ToString());
        return $"{data.Count} predictions written to {outPath}";
    }
}
