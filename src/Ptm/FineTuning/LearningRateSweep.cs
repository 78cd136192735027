using System.Globalization;
using System.Text.Json;
using Ptm.IO;

namespace Ptm.FineTuning;

/// <summary>
/// BERT's fine-tuning practice (Devlin et al. 2018, §A.3): try a few learning rates (they used {5e-5, 3e-5, 2e-5})
/// and keep the one that does best on the validation set. Each rate is a full run in <c>RUN/lr-X/</c>; the winner's
/// best model is copied to <c>RUN/best/</c> and every result is recorded in <c>RUN/sweep.json</c>.
/// </summary>
public static class LearningRateSweep
{
    /// <summary>The run folder's record of every rate's result.</summary>
    public const string ResultFile = "sweep.json";

    /// <summary>Reads comma-separated learning rates ("5e-5,3e-5,2e-5"); each must be positive and listed once.</summary>
    public static IReadOnlyList<double> Parse(string text)
    {
        var rates = new List<double>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) || !(rate > 0) || !double.IsFinite(rate))
                throw new InvalidInputException($"learning rates \"{text}\": \"{part}\" is not a positive learning rate");
            if (rates.Contains(rate)) throw new InvalidInputException($"learning rates \"{text}\": {part} is listed twice");
            rates.Add(rate);
        }
        if (rates.Count == 0) throw new InvalidInputException($"learning rates \"{text}\": none given");
        return rates;
    }

    /// <summary>The run subfolder of one rate, <c>lr-</c> followed by the rate's round-trip text (e.g. <c>lr-3E-05</c>).</summary>
    public static string Folder(double rate) => "lr-" + rate.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The rate whose best validation metric is highest; on a tie, the one listed first.</summary>
    public static (double Rate, BestModelKeeper Keeper) Pick(IReadOnlyList<(double Rate, BestModelKeeper Keeper)> outcomes)
    {
        var best = outcomes[0];
        foreach (var o in outcomes.Skip(1))
            if (o.Keeper.Best > best.Keeper.Best) best = o;
        return best;
    }

    /// <summary>Copies the winner's best/ to RUN/best/ and writes RUN/sweep.json.</summary>
    public static void Promote(string runDir, double rate, BestModelKeeper winner, IReadOnlyList<(double Rate, BestModelKeeper Keeper)> outcomes)
    {
        string target = Path.Combine(runDir, BestModelKeeper.Folder);
        if (Directory.Exists(target)) Directory.Delete(target, true);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(winner.Directory))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        var json = new Dictionary<string, object>
        {
            ["metric"] = winner.Metric,
            ["best_learning_rate"] = rate,
            ["runs"] = outcomes.Select(o => new Dictionary<string, object>
            {
                ["learning_rate"] = o.Rate, ["folder"] = Folder(o.Rate), ["best"] = o.Keeper.Best, ["best_step"] = o.Keeper.BestStep,
            }).ToArray(),
        };
        AtomicFile.WriteAllText(Path.Combine(runDir, ResultFile), JsonSerializer.Serialize(json, JsonFiles.Indented));
    }
}
