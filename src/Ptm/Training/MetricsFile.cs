using System.Text.Json;
using Ptm.IO;

namespace Ptm.Training;

/// <summary>A run's metrics.jsonl: one JSON object per line, each with the step it was logged at.</summary>
public static class MetricsFile
{
    /// <summary>
    /// Keeps the lines of steps up to <paramref name="step"/> and drops the rest: steps after a checkpoint are run and
    /// logged again on resume, and a kill during an append can leave a partial or blank last line. The file is
    /// rewritten atomically, and only when something is dropped.
    /// </summary>
    public static void Trim(string path, int step)
    {
        if (!File.Exists(path)) return;
        var keep = new List<string>();
        bool changed = false;
        foreach (string line in File.ReadLines(path))
        {
            if (StepOf(line) is int s && s <= step) keep.Add(line);
            else changed = true;
        }
        if (!changed) return;
        StorageException.Guard(path, "metrics", () => AtomicFile.WriteAllText(path, string.Concat(keep.Select(l => l + "\n"))));
    }

    /// <summary>The step of a complete metrics line, or null for a blank, partial or foreign line.</summary>
    public static int? StepOf(string line)
    {
        if (string.IsNullOrWhiteSpace(line)) return null;
        try
        {
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("step", out var s)
                && s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out int step) ? step : null;
        }
        catch (JsonException) { return null; }
    }
}
