using System.Text.Json;
using Ptm.IO;

namespace Ptm.Cli.Commands;

/// <summary>Draws training and validation loss from a run's metrics.jsonl.</summary>
static class LossPlot
{
    public static void TryWrite(string metricsPath, string pngPath)
    {
        if (!File.Exists(metricsPath)) return;
        var trainX = new List<double>(); var trainY = new List<double>();
        var valX = new List<double>(); var valY = new List<double>();
        foreach (string line in File.ReadLines(metricsPath))
        {
            if (Ptm.Training.MetricsFile.StepOf(line) is null) continue; // blank, or cut short by a kill
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            double step = root.GetProperty("step").GetDouble();
            if (root.TryGetProperty("loss", out var loss)) { trainX.Add(step); trainY.Add(loss.GetDouble()); }
            if (root.TryGetProperty("val_loss", out var val)) { valX.Add(step); valY.Add(val.GetDouble()); }
        }
        if (trainX.Count == 0) return;
        var plot = new ScottPlot.Plot();
        var train = plot.Add.Scatter(trainX.ToArray(), trainY.ToArray());
        train.LegendText = "train";
        train.MarkerSize = 0;
        if (valX.Count > 0)
        {
            var validation = plot.Add.Scatter(valX.ToArray(), valY.ToArray());
            validation.LegendText = "validation";
            validation.MarkerSize = 6;
        }
        plot.XLabel("step");
        plot.YLabel("loss (nats/token)");
        plot.ShowLegend();
        byte[] png = plot.GetImageBytes(900, 500, ScottPlot.ImageFormat.Png);
        try { AtomicFile.WriteAllBytes(pngPath, png); }
        catch (Exception e) when (Ptm.IO.StorageException.IsWriteFailure(e)) { } // a plot is not worth an error (e.g. on a full disk, after the run's own one-line error)
    }
}
