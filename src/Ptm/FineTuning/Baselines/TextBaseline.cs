namespace Ptm.FineTuning.Baselines;

/// <summary>
/// Classify, pair and similarity. One text: its bag of words. A pair (a, b): [BoW(a), BoW(b), BoW(a) ⊙ BoW(b)], the
/// product being the words the two share, the classic pair feature. Classes by multinomial logistic regression;
/// similarity scores by ridge regression (squared error + L2).
/// </summary>
internal sealed class TextBaseline : TaskBaseline
{
    readonly LabelMap? labels;
    readonly bool pair;
    readonly int majority;   // the training split's most frequent class id

    public TextBaseline(FineTuneTask task, TaskData train, int minCount, TermWeighting weighting)
        : base(task, new BagOfWords(WordVocabulary.Build(train.Examples.SelectMany(e => Texts(task, e)).SelectMany(BaselineWords.Of), minCount), weighting))
    {
        if (task is not (FineTuneTask.Classify or FineTuneTask.Pair or FineTuneTask.Similarity)) throw new ArgumentOutOfRangeException(nameof(task));
        pair = FineTuneTasks.NeedsPair(task);
        labels = FineTuneTasks.HasLabelMap(task) ? LabelMap.FromTraining(train) : null;
        if (labels is not null) majority = MostFrequent(ClassIds(train));
        if (Words.Dimension == 0) throw new InvalidInputException($"{train.Source}: no word occurs {minCount} or more times; nothing to build features from (lower BaselineOptions.MinCount)");
    }

    public LabelMap? Labels => labels;

    public override string Features => pair
        ? $"[BoW(text), BoW(text_pair), BoW(text) * BoW(text_pair)]: 3 x {Words.Dimension:N0} words"
        : $"BoW(text): {Words.Dimension:N0} words";

    static IEnumerable<string> Texts(FineTuneTask task, TaskExample e) => FineTuneTasks.NeedsPair(task) ? [e.Text, e.TextPair!] : [e.Text];

    public SparseRows Rows(TaskData data)
    {
        int v = Words.Dimension;
        var rows = new SparseRows(pair ? 3 * v : v);
        foreach (var e in data.Examples)
        {
            var a = Words.Vector(e.Text);
            if (!pair) { rows.AddBlocks((0, a)); continue; }
            var b = Words.Vector(e.TextPair!);
            rows.AddBlocks((0, a), (v, b), (2 * v, a.Times(b)));
        }
        return rows;
    }

    List<int> ClassIds(TaskData data) => data.Examples.Select(e => labels!.Id(e.Label!, data.Source, e.Line)).ToList();

    List<double> Scores(TaskData data) => data.Examples.Select(e => (double)LabelMap.Score(e.Label!, data.Source, e.Line)).ToList();

    public override LinearProblem Problem(TaskData data) => labels is null
        ? new LinearProblem(Rows(data), LinearLoss.Squared, 1, Scores(data))
        : new LinearProblem(Rows(data), LinearLoss.Softmax, labels.Count, ClassIds(data).Select(i => (double)i).ToList());

    /// <summary>Class ids (classify, pair) or scores (similarity) of every example.</summary>
    public IReadOnlyList<double> Predict(LinearModel model, TaskData data)
    {
        var scores = model.Scores(Rows(data));
        if (labels is null) return scores;
        return Enumerable.Range(0, data.Count).Select(i => (double)LinearModel.ArgMax(scores.AsSpan(i * model.Outputs, model.Outputs))).ToList();
    }

    public override BaselineScore Score(LinearModel model, TaskData data)
    {
        var predicted = Predict(model, data);
        if (labels is null) return BaselineScore.Of(TaskMetrics.Correlation(Scores(data), predicted));
        return BaselineScore.Of(TaskMetrics.Classification(ClassIds(data), predicted.Select(p => (int)p).ToList(), labels.Count));
    }

    public override MajorityBaseline? Majority(TaskData data)
    {
        if (labels is null) return null;
        var gold = ClassIds(data);
        return new MajorityBaseline(labels.Labels[majority], BaselineScore.Of(TaskMetrics.Classification(gold, gold.Select(_ => majority).ToList(), labels.Count)));
    }
}
