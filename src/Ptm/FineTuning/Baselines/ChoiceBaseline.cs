namespace Ptm.FineTuning.Baselines;

/// <summary>
/// Multiple choice as a linear scorer: s(context, choice_k) = w · [BoW(choice_k), BoW(context) ⊙ BoW(choice_k)], a
/// softmax over the k choices and cross-entropy on the right one. The first block learns which answers are likely
/// at all, the second which shared words count as evidence.
/// </summary>
internal sealed class ChoiceBaseline : TaskBaseline
{
    readonly int choices;
    readonly int majority;

    public ChoiceBaseline(TaskData train, int minCount, TermWeighting weighting)
        : base(FineTuneTask.Choice, new BagOfWords(WordVocabulary.Build(
            train.Examples.SelectMany(e => e.Choices!.Prepend(e.Text)).SelectMany(BaselineWords.Of), minCount), weighting))
    {
        if (Words.Dimension == 0) throw new InvalidInputException($"{train.Source}: no word occurs {minCount} or more times; nothing to build features from (lower BaselineOptions.MinCount)");
        choices = train.Examples[0].Choices!.Count;
        majority = MostFrequent(Gold(train));
    }

    public override string Features => $"[BoW(choice), BoW(text) * BoW(choice)]: 2 x {Words.Dimension:N0} words, one score per choice";

    SparseRows Rows(TaskData data)
    {
        int v = Words.Dimension;
        var rows = new SparseRows(2 * v);
        foreach (var e in data.Examples)
        {
            var context = Words.Vector(e.Text);
            foreach (string c in Checked(data, e))
            {
                var choice = Words.Vector(c);
                rows.AddBlocks((0, choice), (v, context.Times(choice)));
            }
        }
        return rows;
    }

    List<int> Gold(TaskData data) => data.Examples.Select(e => LabelMap.ChoiceIndex(e.Label!, Checked(data, e).Count, data.Source, e.Line)).ToList();

    /// <summary>The example's choices; as many as in training, since the scores are read in groups of that size.</summary>
    IReadOnlyList<string> Checked(TaskData data, TaskExample e) => e.Choices!.Count == choices ? e.Choices
        : throw new InvalidInputException($"{data.Source}, line {e.Line}: {e.Choices.Count} choices, but the training examples have {choices}");

    public override LinearProblem Problem(TaskData data) =>
        new(Rows(data), LinearLoss.Choice, 1, Gold(data).Select(i => (double)i).ToList(), choices);

    /// <summary>The index of the best-scoring choice of every example.</summary>
    public IReadOnlyList<int> Predict(LinearModel model, TaskData data)
    {
        var scores = model.Scores(Rows(data));
        return Enumerable.Range(0, data.Count).Select(i => LinearModel.ArgMax(scores.AsSpan(i * choices, choices))).ToList();
    }

    public override BaselineScore Score(LinearModel model, TaskData data) =>
        BaselineScore.Of(TaskMetrics.Classification(Gold(data), Predict(model, data), choices));

    public override MajorityBaseline? Majority(TaskData data)
    {
        var gold = Gold(data);
        return new MajorityBaseline($"choice {majority}", BaselineScore.Of(TaskMetrics.Classification(gold, gold.Select(_ => majority).ToList(), choices)));
    }
}
