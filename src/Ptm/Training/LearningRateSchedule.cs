namespace Ptm.Training;

/// <summary>Linear warm-up from 0 to the peak, then a half cosine down to the floor, then the floor.</summary>
internal sealed record LearningRateSchedule(double Peak, double Floor, int WarmupSteps, int DecaySteps)
{
    /// <summary>The schedule of a training config: LearningRate, MinLr, WarmupSteps and DecaySteps.</summary>
    public static LearningRateSchedule From(TrainingConfig c) => new(c.LearningRate, c.MinLr, c.WarmupSteps, c.DecaySteps);

    /// <summary>Learning rate for the update that follows step <paramref name="step"/> (0-based).</summary>
    public double At(int step)
    {
        if (step < WarmupSteps) return Peak * (step + 1) / WarmupSteps;
        if (step >= DecaySteps) return Floor;
        double progress = (double)(step - WarmupSteps) / Math.Max(1, DecaySteps - WarmupSteps);
        return Floor + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (Peak - Floor);
    }
}
