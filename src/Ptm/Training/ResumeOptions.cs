namespace Ptm.Training;

/// <summary>How <see cref="Pretraining.ResumeGpt"/> and <see cref="Pretraining.ResumeBert"/> treat a damaged latest checkpoint.</summary>
public sealed record ResumeOptions
{
    /// <summary>
    /// When the checkpoint <c>latest</c> names fails its checksums (or is missing), resume from the newest checkpoint
    /// that passes them instead of refusing (<see cref="Checkpoints.RollBackToNewestIntact"/>). Off by default: taking
    /// an older checkpoint repeats the steps after it, which a user should choose knowingly.
    /// </summary>
    public bool UseNewestIntact { get; init; }
}
