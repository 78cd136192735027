namespace Ptm.Generation;

/// <summary>
/// Decoding settings, named as in Hugging Face's generate(). The defaults sample at temperature 1 from the full
/// distribution (no top-k, no nucleus, no repetition penalty) for up to 200 new tokens, seeded with 1337 so a run
/// repeats; temperature 0 means greedy. <see cref="Validate"/> throws <see cref="InvalidOptionException"/> naming the
/// property out of range.
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Tokens to generate at most (default 200; 0 yields nothing); stop strings and &lt;|endoftext|&gt; end earlier.</summary>
    public int MaxNewTokens { get; init; } = 200;
    /// <summary>Softmax temperature, a finite number &gt;= 0 (default 1); 0 picks the most likely token (greedy).</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep only the k most likely tokens; 0 keeps all (default).</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of tokens whose probabilities add up to at least p, in (0, 1]; 1 keeps all (default).</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>CTRL's penalty (Keskar et al. 2019): logits of tokens already in the context are divided by it
    /// when positive and multiplied when negative; 1 turns it off (default).</summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>Texts that end the continuation when they appear (they are not part of the result); none by default.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Seed of the sampling stream: the same seed, model and prompt give the same text (default 1337).</summary>
    public long Seed { get; init; } = 1337;
    /// <summary>Keep past keys and values between tokens (default); false recomputes the whole context each step, for checking.</summary>
    public bool UseCache { get; init; } = true;

    /// <summary>Throws <see cref="InvalidOptionException"/> for the first property out of range.</summary>
    public void Validate()
    {
        const string type = nameof(GenerationOptions);
        if (MaxNewTokens < 0) throw new InvalidOptionException(type, nameof(MaxNewTokens), "must be non-negative", MaxNewTokens);
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new InvalidOptionException(type, nameof(Temperature), "must be a finite number >= 0", Temperature);
        if (TopK < 0) throw new InvalidOptionException(type, nameof(TopK), "must be >= 0", TopK);
        if (!(TopP > 0 && TopP <= 1)) throw new InvalidOptionException(type, nameof(TopP), "must be in (0, 1]", TopP);
        if (!(RepetitionPenalty > 0) || double.IsInfinity(RepetitionPenalty)) throw new InvalidOptionException(type, nameof(RepetitionPenalty), "must be a finite number > 0", RepetitionPenalty);
        if (Stop.Any(s => s.Length == 0)) throw new InvalidOptionException(type, nameof(Stop), "must not contain empty strings");
    }
}
