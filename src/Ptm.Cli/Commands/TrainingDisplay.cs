using Ptm.Training;
using Spectre.Console;

namespace Ptm.Cli.Commands;

/// <summary>Live progress bar on a terminal; one plain line per log interval when output is redirected.</summary>
static class TrainingDisplay
{
    public static TrainingResult Run(Trainer trainer, int maxSteps, CancellationToken cancellation)
    {
        trainer.Warning += w => Console.Error.WriteLine($"warning: {w}");
        trainer.Evaluated += e => Console.WriteLine($"step {e.Step,6}  validation {Format(e.Metrics)}");
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            int startStep = trainer.Step;
            trainer.StepCompleted += r =>
            {
                double perStep = r.Elapsed.TotalSeconds / Math.Max(1, r.Step - startStep);
                var eta = TimeSpan.FromSeconds(perStep * (r.MaxSteps - r.Step));
                string extra = r.Metrics.Count == 0 ? "" : "  " + Format(r.Metrics);
                Console.WriteLine($"step {r.Step,6}/{r.MaxSteps}  loss {r.Loss:F4}{extra}  lr {r.LearningRate:E2}  {r.TokensPerSecond,8:F0} tok/s  eta {eta:hh\\:mm\\:ss}");
            };
            return trainer.Run(cancellation);
        }
        return AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("training", maxValue: maxSteps);
                task.Value = trainer.Step;
                trainer.StepCompleted += r =>
                {
                    task.Value = r.Step;
                    task.Description = $"step {r.Step}/{r.MaxSteps} loss {r.Loss:F4} lr {r.LearningRate:E2} {r.TokensPerSecond:F0} tok/s";
                };
                return trainer.Run(cancellation);
            });
    }

    static string Format(IReadOnlyDictionary<string, double> metrics) =>
        string.Join("  ", metrics.Select(kv => $"{kv.Key} {kv.Value:F4}"));
}
