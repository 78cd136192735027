using System.Globalization;

namespace Ptm.FineTuning.Baselines;

/// <param name="L2Grid">The L2 strengths tried; the best on validation is kept.</param>
/// <param name="MinCount">A word enters the vocabulary if the training split has it at least this often.</param>
/// <param name="Weighting">How a word's count becomes its feature value.</param>
/// <param name="Optimizer">L-BFGS settings for every fit; null for <see cref="LbfgsOptions"/>' defaults.</param>
public sealed record BaselineOptions(IReadOnlyList<double> L2Grid, int MinCount = 2, TermWeighting Weighting = TermWeighting.Binary, LbfgsOptions? Optimizer = null)
{
    /// <summary>1e-4 to 10 by decades: from barely regularised to nearly constant, for a mean loss.</summary>
    public static readonly IReadOnlyList<double> DefaultGrid = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

    /// <summary>Reads a comma-separated list of positive L2 strengths (e.g. <c>1e-4,1e-3,1e-2</c>); <paramref name="source"/>
    /// names where the text came from in the error.</summary>
    /// <exception cref="InvalidInputException">An entry is not a finite positive number, or there is none.</exception>
    public static IReadOnlyList<double> ParseGrid(string text, string source)
    {
        var grid = new List<double>();
        foreach (string part in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v) || v <= 0)
                throw new InvalidInputException($"{source}: '{part}' is not a positive number (expected e.g. 1e-4,1e-3,1e-2)");
            grid.Add(v);
        }
        if (grid.Count == 0) throw new InvalidInputException($"{source}: expected at least one L2 strength");
        return grid;
    }
}

/// <summary>One point of the L2 search: the fit on the training split and its validation score.</summary>
public sealed record L2Trial(double L2, BaselineScore Validation, double Objective, double GradientNorm, int Iterations, bool Converged);

/// <summary>The outcome of <see cref="ClassicBaseline.Run"/>.</summary>
/// <param name="Task">The task the baseline was fitted for.</param>
/// <param name="Metric">The validation metric that chose the L2 strength (the task's main one, as in fine-tuning).</param>
/// <param name="Features">One line on what the features are.</param>
/// <param name="Trials">Every L2 strength of the grid with its fit and validation score, in grid order.</param>
/// <param name="Chosen">The trial kept: the best <paramref name="Metric"/>, the stronger L2 on a tie.</param>
/// <param name="Model">The chosen trial's trained weights.</param>
/// <param name="Validation">The chosen model's metrics on the validation split.</param>
/// <param name="Test">Its metrics on the test split; null without one.</param>
/// <param name="MajorityValidation">The majority-class baseline on validation; null where the task has no classes.</param>
/// <param name="MajorityTest">The majority-class baseline on test; null without a test split or classes.</param>
public sealed record BaselineReport(FineTuneTask Task, string Metric, string Features, IReadOnlyList<L2Trial> Trials, L2Trial Chosen,
    LinearModel Model, BaselineScore Validation, BaselineScore? Test, MajorityBaseline? MajorityValidation, MajorityBaseline? MajorityTest);

/// <summary>
/// The classic baseline of a task: its linear model fitted on the training split to convergence for each L2 strength
/// of the grid, the strength with the best validation metric (the task's main one, as in fine-tuning) kept, then
/// scored on validation and test, with the majority-class baseline beside it where the task has classes.
/// </summary>
public static class ClassicBaseline
{
    /// <summary>Fits the task's linear model on <paramref name="train"/> for every L2 strength of
    /// <paramref name="options"/>, keeps the best on <paramref name="validation"/> and scores it there and on
    /// <paramref name="test"/> (when given). Deterministic: the same data and options give the same report.</summary>
    /// <exception cref="InvalidOptionException"><see cref="BaselineOptions.MinCount"/> is below 1.</exception>
    public static BaselineReport Run(FineTuneTask task, TaskData train, TaskData validation, TaskData? test, BaselineOptions options)
    {
        var baseline = TaskBaseline.Create(task, train, options.MinCount, options.Weighting);
        var problem = baseline.Problem(train);
        string metric = BestModelKeeper.PrimaryMetric(task);
        var trials = new List<(L2Trial Trial, LinearModel Model)>();
        foreach (double l2 in options.L2Grid)
        {
            var (model, fit) = Fit(problem, l2, options.Optimizer);
            trials.Add((new L2Trial(l2, baseline.Score(model, validation), fit.Value, fit.GradientNorm, fit.Iterations, fit.Converged), model));
        }
        // Higher is better; on a tie the stronger regularisation, the simpler model, wins.
        var best = trials.OrderByDescending(t => Comparable(t.Trial.Validation[metric])).ThenByDescending(t => t.Trial.L2).First();
        return new BaselineReport(task, metric, baseline.Features, trials.Select(t => t.Trial).ToList(), best.Trial, best.Model,
            best.Trial.Validation, test is null ? null : baseline.Score(best.Model, test),
            baseline.Majority(validation), test is null ? null : baseline.Majority(test));
    }

    /// <summary>NaN (e.g. a constant prediction's Pearson) ranks below every number.</summary>
    static double Comparable(double v) => double.IsNaN(v) ? double.NegativeInfinity : v;

    /// <summary>Minimises the problem's L2-regularised objective from zero with L-BFGS.</summary>
    internal static (LinearModel Model, LbfgsResult Fit) Fit(LinearProblem problem, double l2, LbfgsOptions? optimizer = null)
    {
        using var loss = new RegularizedLoss(problem, l2);
        var fit = Lbfgs.Minimize(loss.ValueAndGradient, new double[problem.ParameterCount], optimizer);
        return (LinearModel.FromParameters(problem, fit.X), fit);
    }
}
