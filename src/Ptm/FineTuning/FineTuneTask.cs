namespace Ptm.FineTuning;

/// <summary>The task shapes of GPT-1 §3.3 and BERT §4, which decide the input transformation, head and loss.</summary>
public enum FineTuneTask
{
    /// <summary>One text to one of N labels (sentiment, topic).</summary>
    Classify,
    /// <summary>An ordered pair of texts to one of N labels (entailment: premise, hypothesis).</summary>
    Pair,
    /// <summary>An unordered pair to a real-valued score (STS-B); mean squared error.</summary>
    Similarity,
    /// <summary>A context and K candidate answers; the label is the index of the right one.</summary>
    Choice,
    /// <summary>A label per word (BERT's NER, §5.3).</summary>
    Tag,
    /// <summary>Extractive QA (SQuAD, BERT §4.2): the answer is a span of the context.</summary>
    Span,
}

/// <summary>Names and properties of <see cref="FineTuneTask"/> values.</summary>
public static class FineTuneTasks
{
    /// <summary>The task's lower-case name, as finetune.json records it and <see cref="Parse"/> reads it.</summary>
    public static string Name(FineTuneTask task) => task switch
    {
        FineTuneTask.Classify => "classify",
        FineTuneTask.Pair => "pair",
        FineTuneTask.Similarity => "similarity",
        FineTuneTask.Choice => "choice",
        FineTuneTask.Tag => "tag",
        FineTuneTask.Span => "span",
        _ => throw new ArgumentOutOfRangeException(nameof(task)),
    };

    /// <summary>Reads a task name; <paramref name="source"/> names where it came from in the error.</summary>
    /// <exception cref="InvalidInputException">Not one of classify, pair, similarity, choice, tag, span.</exception>
    public static FineTuneTask Parse(string name, string source) => name switch
    {
        "classify" => FineTuneTask.Classify,
        "pair" => FineTuneTask.Pair,
        "similarity" => FineTuneTask.Similarity,
        "choice" => FineTuneTask.Choice,
        "tag" => FineTuneTask.Tag,
        "span" => FineTuneTask.Span,
        _ => throw new InvalidInputException($"{source}: task must be classify, pair, similarity, choice, tag or span (got \"{name}\")"),
    };

    /// <summary>Whether labels are names mapped to class ids (labels.json); similarity is numeric, choice an index.</summary>
    public static bool HasLabelMap(FineTuneTask task) => task is FineTuneTask.Classify or FineTuneTask.Pair or FineTuneTask.Tag;

    /// <summary>Tasks whose labels sit on tokens rather than on the whole input.</summary>
    public static bool IsTokenLevel(FineTuneTask task) => task is FineTuneTask.Tag or FineTuneTask.Span;

    /// <summary>Tasks whose examples have a second text (the pair column).</summary>
    public static bool NeedsPair(FineTuneTask task) => task is FineTuneTask.Pair or FineTuneTask.Similarity;
}
