namespace Ptm.FineTuning.Baselines;

/// <summary>A baseline's metrics on one file, named as <c>ptm evaluate</c> names them, in print order.</summary>
public sealed record BaselineScore(IReadOnlyList<KeyValuePair<string, double>> Values)
{
    /// <summary>The value of the metric called <paramref name="name"/>; throws <see cref="InvalidOperationException"/>
    /// if there is none.</summary>
    public double this[string name] => Values.First(kv => kv.Key == name).Value;

    /// <summary>Accuracy and macro F1.</summary>
    public static BaselineScore Of(ClassificationMetrics m) => new([new("accuracy", m.Accuracy), new("macro_f1", m.MacroF1)]);
    /// <summary>Pearson, Spearman and mean squared error.</summary>
    public static BaselineScore Of(CorrelationMetrics m) => new([new("pearson", m.Pearson), new("spearman", m.Spearman), new("mse", m.Mse)]);
    /// <summary>SQuAD exact match and F1.</summary>
    public static BaselineScore Of(SpanMetrics m) => new([new("exact_match", m.ExactMatch), new("f1", m.F1)]);
    /// <summary>Entity precision, recall and F1, and token accuracy.</summary>
    public static BaselineScore Of(TaggingMetrics m) => new([new("entity_precision", m.Precision), new("entity_recall", m.Recall),
        new("entity_f1", m.F1), new("token_accuracy", m.TokenAccuracy)]);
}

/// <summary>The majority-class baseline: the training split's most frequent label, predicted for every example.</summary>
public sealed record MajorityBaseline(string Label, BaselineScore Score);

/// <summary>
/// One task's classic baseline: features fixed from the training split (the vocabulary, the label map), the linear
/// problem a split poses, and the metrics of a trained model on a split, computed by the same code as
/// <c>ptm evaluate</c> (<see cref="TaskMetrics"/>, <see cref="SquadMetrics"/>, <see cref="TagMetrics"/>).
/// </summary>
internal abstract class TaskBaseline
{
    protected TaskBaseline(FineTuneTask task, BagOfWords words)
    {
        Task = task;
        Words = words;
    }

    public FineTuneTask Task { get; }
    public BagOfWords Words { get; }

    /// <summary>One line on what the features are.</summary>
    public abstract string Features { get; }

    /// <summary>The design matrix and targets of a labelled split.</summary>
    public abstract LinearProblem Problem(TaskData data);

    public abstract BaselineScore Score(LinearModel model, TaskData data);

    /// <summary>The training split's most frequent label applied to <paramref name="data"/>; null where a task has no
    /// classes (similarity, tag, span).</summary>
    public virtual MajorityBaseline? Majority(TaskData data) => null;

    public static TaskBaseline Create(FineTuneTask task, TaskData train, int minCount, TermWeighting weighting) => task switch
    {
        FineTuneTask.Classify or FineTuneTask.Pair or FineTuneTask.Similarity => new TextBaseline(task, train, minCount, weighting),
        FineTuneTask.Choice => new ChoiceBaseline(train, minCount, weighting),
        FineTuneTask.Span => new SpanBaseline(train, minCount, weighting),
        FineTuneTask.Tag => new TagBaseline(train, minCount, weighting),
        _ => throw new ArgumentOutOfRangeException(nameof(task)),
    };

    /// <summary>The most frequent of <paramref name="ids"/>, the smallest on a tie.</summary>
    protected static int MostFrequent(IEnumerable<int> ids) =>
        ids.GroupBy(i => i).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
}
