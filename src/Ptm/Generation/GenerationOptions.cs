namespace Ptm.Generation;

/// <summary>Decoding settings, named as in Hugging Face's generate(). Temperature 0 means greedy.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 200;
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep only the k most likely tokens; 0 keeps all.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probabilities add up to at least p; 1 keeps all.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>CTRL's penalty (Keskar et al. 2019): logits of tokens already in the context are divided by it
    /// when positive and multiplied when negative; 1 turns it off.</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    public IReadOnlyList<string> Stop { get; init; } = [];
    public long Seed { get; init; } = 1337;
    public bool UseCache { get; init; } = true;

    public void Validate()
    {
        if (MaxNewTokens < 0) throw new InvalidInputException($"--max-new-tokens must be non-negative (got {MaxNewTokens})");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new InvalidInputException($"--temperature must be a finite number >= 0 (got {Temperature})");
        if (TopK < 0) throw new InvalidInputException($"--top-k must be >= 0 (got {TopK})");
        if (!(TopP > 0 && TopP <= 1)) throw new InvalidInputException($"--top-p must be in (0, 1] (got {TopP})");
        if (!(RepetitionPenalty > 0) || double.IsInfinity(RepetitionPenalty)) throw new InvalidInputException($"--repetition-penalty must be a finite number > 0 (got {RepetitionPenalty})");
        if (Stop.Any(s => s.Length == 0)) throw new InvalidInputException("--stop strings must not be empty");
    }
}
