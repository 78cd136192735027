namespace Ptm.Generation;

/// <summary>When beam search stops working on a batch item, named after Hugging Face's <c>early_stopping</c>.</summary>
public enum BeamStopping
{
    /// <summary><c>early_stopping=False</c> (default): once <see cref="BeamSearchOptions.NumBeams"/> hypotheses have
    /// ended, stop when the best running beam, length-normalised at the current length, cannot beat the worst of them.
    /// A heuristic: with a positive length penalty a longer continuation could still score better.</summary>
    Heuristic,
    /// <summary><c>early_stopping=True</c>: stop as soon as <see cref="BeamSearchOptions.NumBeams"/> hypotheses have ended.</summary>
    Early,
    /// <summary><c>early_stopping="never"</c>: stop only when no running beam can beat the worst ended hypothesis at any
    /// length up to <see cref="BeamSearchOptions.MaxNewTokens"/> (the canonical beam search).</summary>
    Never,
}

/// <summary>
/// Beam search settings with Hugging Face's <c>generate()</c> semantics. A hypothesis's score is the sum of its tokens'
/// log-probabilities divided by <c>length^LengthPenalty</c>, where length counts the generated tokens including the
/// end-of-sequence token (not the prompt). Running beams are ranked by their raw sums; the penalty decides only among
/// ended hypotheses. <see cref="Validate"/> throws <see cref="InvalidOptionException"/> naming the property out of range.
/// </summary>
public sealed record BeamSearchOptions
{
    /// <summary>Hypotheses kept per batch item at every step (default 4); 1 is greedy decoding.</summary>
    public int NumBeams { get; init; } = 4;
    /// <summary>Exponent α of the length normalisation score / length^α (default 1): &gt; 0 favours longer outputs, &lt; 0
    /// shorter ones, 0 ranks by raw log-probability.</summary>
    public double LengthPenalty { get; init; } = 1.0;
    /// <summary>No n-gram of this size occurs twice in a row's tokens, prompt included (HF's
    /// <c>no_repeat_ngram_size</c>); 0 turns it off (default).</summary>
    public int NoRepeatNgramSize { get; init; }
    /// <summary>The stopping rule (default <see cref="BeamStopping.Heuristic"/>, HF's <c>early_stopping=False</c>).</summary>
    public BeamStopping EarlyStopping { get; init; } = BeamStopping.Heuristic;
    /// <summary>Best hypotheses returned per batch item, at most <see cref="NumBeams"/> (default 1).</summary>
    public int NumReturnSequences { get; init; } = 1;
    /// <summary>Tokens to generate at most (default 200), also bounded by the model's context.</summary>
    public int MaxNewTokens { get; init; } = 200;
    /// <summary>The token that ends a hypothesis (kept as its last token); null: hypotheses end only at the length limit.</summary>
    public int? EosTokenId { get; init; }
    /// <summary>The token fed to the rows of a batch item that has finished while others go on (their output is
    /// discarded); null uses <see cref="EosTokenId"/>, or 0.</summary>
    public int? PadTokenId { get; init; }

    /// <summary>Throws <see cref="InvalidOptionException"/> for the first property out of range.</summary>
    public void Validate()
    {
        const string type = nameof(BeamSearchOptions);
        if (NumBeams < 1) throw new InvalidOptionException(type, nameof(NumBeams), "must be at least 1", NumBeams);
        if (!double.IsFinite(LengthPenalty)) throw new InvalidOptionException(type, nameof(LengthPenalty), "must be a finite number", LengthPenalty);
        if (NoRepeatNgramSize < 0) throw new InvalidOptionException(type, nameof(NoRepeatNgramSize), "must be >= 0", NoRepeatNgramSize);
        if (NumReturnSequences < 1 || NumReturnSequences > NumBeams)
            throw new InvalidOptionException(type, nameof(NumReturnSequences), $"must be between 1 and NumBeams ({NumBeams})", NumReturnSequences);
        if (MaxNewTokens < 0) throw new InvalidOptionException(type, nameof(MaxNewTokens), "must be non-negative", MaxNewTokens);
        if (EosTokenId < 0) throw new InvalidOptionException(type, nameof(EosTokenId), "must be a token id >= 0", EosTokenId);
        if (PadTokenId < 0) throw new InvalidOptionException(type, nameof(PadTokenId), "must be a token id >= 0", PadTokenId);
    }
}
