namespace Ptm.FineTuning.Baselines;

/// <summary>
/// Tagging as a per-word multinomial logistic regression on the word's identity and its neighbours' (the previous and
/// the next word, or a sentence start / end marker), each in its own block of features; words are lower-cased.
/// Entity precision, recall and F1 by <see cref="TagMetrics"/>, as <c>ptm evaluate</c> scores a tagger.
/// </summary>
internal sealed class TagBaseline : TaskBaseline
{
    readonly LabelMap labels;

    public TagBaseline(TaskData train, int minCount, TermWeighting weighting)
        : base(FineTuneTask.Tag, new BagOfWords(WordVocabulary.Build(train.Examples.SelectMany(e => e.Words!.Select(Lower)), minCount), weighting))
    {
        labels = LabelMap.FromTraining(train);
    }

    public LabelMap Labels => labels;

    static string Lower(string word) => word.ToLowerInvariant();

    int V => Words.Dimension;

    public override string Features => $"per word: identity, previous and next word (3 x {V:N0} words, sentence start and end), {labels.Count} tags";

    SparseRows Rows(TaskData data)
    {
        var rows = new SparseRows(3 * V + 2);
        foreach (var e in data.Examples)
        {
            var ids = e.Words!.Select(w => Words.Vocabulary.TryGetId(Lower(w), out int id) ? id : -1).ToArray();
            for (int w = 0; w < ids.Length; w++)
            {
                var entries = new List<(int, double)>(3);
                if (ids[w] >= 0) entries.Add((ids[w], 1));
                if (w == 0) entries.Add((3 * V, 1));
                else if (ids[w - 1] >= 0) entries.Add((V + ids[w - 1], 1));
                if (w == ids.Length - 1) entries.Add((3 * V + 1, 1));
                else if (ids[w + 1] >= 0) entries.Add((2 * V + ids[w + 1], 1));
                rows.AddRow(entries);
            }
        }
        return rows;
    }

    public override LinearProblem Problem(TaskData data) =>
        new(Rows(data), LinearLoss.Softmax, labels.Count,
            data.Examples.SelectMany(e => e.Tags!.Select(t => (double)labels.Id(t, data.Source, e.Line))).ToList());

    /// <summary>The predicted tag of every word of every example.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Predict(LinearModel model, TaskData data)
    {
        var scores = model.Scores(Rows(data));
        var tags = new List<IReadOnlyList<string>>(data.Count);
        int row = 0;
        foreach (var e in data.Examples)
        {
            var sentence = new string[e.Words!.Count];
            for (int w = 0; w < sentence.Length; w++, row++)
                sentence[w] = labels.Labels[LinearModel.ArgMax(scores.AsSpan(row * labels.Count, labels.Count))];
            tags.Add(sentence);
        }
        return tags;
    }

    public override BaselineScore Score(LinearModel model, TaskData data) =>
        BaselineScore.Of(TagMetrics.Score(data.Examples.Select(e => e.Tags!).ToList(), Predict(model, data)));
}
