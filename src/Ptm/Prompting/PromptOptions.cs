namespace Ptm.Prompting;

/// <summary>Which part of an over-long query field is cut when the query alone does not fit the context.</summary>
public enum QueryTruncation
{
    /// <summary>Drop tokens from the field's start (its end, nearest the answer, stays).</summary>
    Left,
    /// <summary>Drop tokens from the field's middle (its start and end stay).</summary>
    Middle,
}

/// <summary>Settings of <see cref="PromptPredictor"/>. Defaults: zero-shot, raw scores summed over a candidate's tokens.</summary>
public sealed record PromptOptions
{
    /// <summary>The prompt (see <see cref="PromptTemplate"/>); null for the task's default (<see cref="DefaultTemplate"/>).</summary>
    public string? Template { get; init; }

    /// <summary>Label → answer word(s) for classify and pair; choice answers are the choices themselves.</summary>
    public Verbalizer Verbalizer { get; init; } = Verbalizer.Identity;

    /// <summary>Demonstrations k drawn from the training split (0: zero-shot).</summary>
    public int Shots { get; init; }

    /// <summary>How the demonstrations are drawn.</summary>
    public DemoSelection Selection { get; init; } = DemoSelection.Random;

    /// <summary>Seed of the demonstration draw: the same seed, the same demonstrations.</summary>
    public long Seed { get; init; } = 1;

    /// <summary>The calibrations to compute; the first decides <see cref="PromptPrediction.Predicted"/>. Computing
    /// several costs little more than one (the content-free and premise scores are shared by every query).</summary>
    public IReadOnlyList<Calibration> Calibrations { get; init; } = [Calibration.None];

    /// <summary>Score a candidate by the mean of its tokens' log-probabilities instead of their sum.</summary>
    public bool LengthNormalize { get; init; }

    /// <summary>Text between demonstrations, and between the last one and the query.</summary>
    public string Separator { get; init; } = "\n\n";

    /// <summary>Which part of a query field is cut when the query alone is too long (demonstrations are dropped first).</summary>
    public QueryTruncation Truncation { get; init; } = QueryTruncation.Left;

    /// <summary>Contextual calibration's content-free inputs, each put in every field of the query.</summary>
    public IReadOnlyList<string> ContentFreeInputs { get; init; } = ["N/A", "[MASK]", ""];

    /// <summary>Span (generation) tasks: the most tokens generated per answer; generation also stops at a newline.</summary>
    public int MaxNewTokens { get; init; } = 12;

    /// <summary>The default template of a task: the example's field(s), then an answer line.</summary>
    public static string DefaultTemplate(FineTuning.FineTuneTask task) => task switch
    {
        FineTuning.FineTuneTask.Pair => "{text}\n{text_pair}\nAnswer: {label}",
        FineTuning.FineTuneTask.Choice => "{text}\nAnswer: {label}",
        FineTuning.FineTuneTask.Span => "Question: {text}\nContext: {text_pair}\nAnswer: {label}",
        _ => "{text}\nAnswer: {label}",
    };

    /// <summary>Checks the ranges.</summary>
    /// <exception cref="InvalidOptionException">A property out of range.</exception>
    public void Validate()
    {
        const string type = nameof(PromptOptions);
        if (Shots < 0) throw new InvalidOptionException(type, nameof(Shots), "must be non-negative", Shots);
        if (Calibrations.Count == 0) throw new InvalidOptionException(type, nameof(Calibrations), "must name at least one calibration");
        if (ContentFreeInputs.Count == 0 && Calibrations.Contains(Calibration.Contextual))
            throw new InvalidOptionException(type, nameof(ContentFreeInputs), "must hold at least one input for contextual calibration");
        if (MaxNewTokens < 1) throw new InvalidOptionException(type, nameof(MaxNewTokens), "must be at least 1", MaxNewTokens);
    }
}
