using Ptm.IO;
using Ptm.Training;

namespace Ptm.FineTuning;

/// <summary>
/// Keeps the model of the best validation evaluation in <c>RUN/best/</c> and says when to stop early. It listens to the
/// Trainer's evaluations (one per epoch in fine-tuning); stopping early is a cancellation of the Trainer's token,
/// after which the Trainer writes its usual checkpoint and returns.
/// </summary>
public sealed class BestModelKeeper
{
    /// <summary>The run subfolder that holds the best model.</summary>
    public const string Folder = Checkpoints.BestFolder;

    readonly Action<string> save;
    readonly string directory;
    readonly int patience;
    int sinceBest;

    readonly TorchSharp.torch.nn.Module? module;
    Modeling.WeightSnapshot? snapshot;

    /// <param name="runDir">The run folder; the best model goes to its best/ folder.</param>
    /// <param name="task">The task, which decides the metric (<see cref="PrimaryMetric"/>).</param>
    /// <param name="save">Writes the current model to a folder (FineTuneModel.Save).</param>
    /// <param name="patience">Evaluations without improvement before stopping; 0 never stops early.</param>
    public BestModelKeeper(string runDir, FineTuneTask task, Action<string> save, int patience)
    {
        directory = Path.Combine(runDir, Folder);
        Metric = PrimaryMetric(task);
        this.save = save;
        this.patience = patience;
    }

    /// <summary>A keeper that holds the best evaluation's weights in memory (a copy of every tensor of
    /// <paramref name="module"/>) instead of on disk; <see cref="RestoreBest"/> puts them back.</summary>
    public BestModelKeeper(FineTuneTask task, TorchSharp.torch.nn.Module module, int patience)
    {
        directory = "";
        Metric = PrimaryMetric(task);
        save = _ => { };
        this.module = module;
        this.patience = patience;
    }

    /// <summary>Copies the best evaluation's weights back into the model (in-memory keepers only; a no-op before the first evaluation).</summary>
    public void RestoreBest()
    {
        if (module is null) throw new InvalidOperationException("this keeper saves the best model to a folder; load it from there");
        snapshot?.LoadInto(module);
    }

    /// <summary>The number each task is judged by (higher is better): the metric its papers report.</summary>
    public static string PrimaryMetric(FineTuneTask task) => task switch
    {
        FineTuneTask.Similarity => "pearson",
        FineTuneTask.Tag => "entity_f1",
        FineTuneTask.Span => "f1",
        _ => "accuracy",
    };

    /// <summary>The validation metric compared (<see cref="PrimaryMetric"/>); higher is better.</summary>
    public string Metric { get; }
    /// <summary>The best value of <see cref="Metric"/> so far; −∞ before the first evaluation.</summary>
    public double Best { get; private set; } = double.NegativeInfinity;
    /// <summary>The training step of the best evaluation; -1 before the first.</summary>
    public int BestStep { get; private set; } = -1;
    /// <summary>The best/ folder; empty for an in-memory keeper.</summary>
    public string Directory => directory;
    /// <summary>True once <c>patience</c> evaluations in a row brought no improvement (never with patience 0).</summary>
    public bool ShouldStop => patience > 0 && sinceBest >= patience;

    /// <summary>Call after each evaluation; returns true when this one is a new best (and was saved).</summary>
    public bool Observe(EvalReport report)
    {
        double value = report.Metrics.TryGetValue(Metric, out double v) && double.IsFinite(v) ? v : double.NegativeInfinity;
        // Strictly better only: on a tie the earlier (less trained) model stays.
        if (value > Best || BestStep < 0)
        {
            Best = value;
            BestStep = report.Step;
            sinceBest = 0;
            if (module is not null)
            {
                snapshot?.Dispose();
                snapshot = Modeling.WeightSnapshot.Of(module);
                return true;
            }
            // Written beside and then swapped in, so a crash never leaves a half-written best/.
            string temp = directory + ".tmp";
            if (System.IO.Directory.Exists(temp)) System.IO.Directory.Delete(temp, true);
            save(temp);
            if (System.IO.Directory.Exists(directory)) System.IO.Directory.Delete(directory, true);
            System.IO.Directory.Move(temp, directory);
            return true;
        }
        sinceBest++;
        return false;
    }
}
