using Ptm.Tokenization;

namespace Ptm.FineTuning.Baselines;

/// <summary>
/// Extractive span QA as a per-word logistic regression over the context's words: is this word part of the answer?
/// Features: the word's identity, its relative position (one of <see cref="PositionBuckets"/> equal parts of the
/// context), whether the question has it, whether it is the first word. The answer is the contiguous run of words
/// with the largest sum of log-odds, which is the most likely single run if the words were independent (a single
/// word when every log-odds is negative); its text is the context's own characters from the run's first to last word.
/// </summary>
internal sealed class SpanBaseline : TaskBaseline
{
    public const int PositionBuckets = 5;

    public SpanBaseline(TaskData train, int minCount, TermWeighting weighting)
        : base(FineTuneTask.Span, new BagOfWords(WordVocabulary.Build(train.Examples.SelectMany(e => BaselineWords.Of(e.TextPair!)), minCount), weighting))
    {
    }

    int PositionColumn => Words.Dimension;
    int InQuestionColumn => Words.Dimension + PositionBuckets;
    int FirstWordColumn => Words.Dimension + PositionBuckets + 1;

    public override string Features =>
        $"per context word: identity ({Words.Dimension:N0} words), position (1 of {PositionBuckets} parts), in the question, first word";

    /// <summary>Every context word's features; the rows of example i are [starts[i], starts[i + 1]).</summary>
    (SparseRows Rows, int[] Starts, List<IReadOnlyList<BasicToken>> Words) Featurize(TaskData data)
    {
        var rows = new SparseRows(FirstWordColumn + 1);
        var starts = new int[data.Count + 1];
        var allWords = new List<IReadOnlyList<BasicToken>>(data.Count);
        for (int i = 0; i < data.Count; i++)
        {
            var e = data.Examples[i];
            var question = BaselineWords.Of(e.Text).ToHashSet(StringComparer.Ordinal);
            var words = BaselineWords.Tokenize(e.TextPair!);
            allWords.Add(words);
            starts[i] = rows.RowCount;
            for (int w = 0; w < words.Count; w++)
            {
                var entries = new List<(int, double)>(4);
                if (Words.Vocabulary.TryGetId(words[w].Text, out int id)) entries.Add((id, 1));
                entries.Add((PositionColumn + w * PositionBuckets / words.Count, 1));
                if (question.Contains(words[w].Text)) entries.Add((InQuestionColumn, 1));
                if (w == 0) entries.Add((FirstWordColumn, 1));
                rows.AddRow(entries);
            }
        }
        starts[data.Count] = rows.RowCount;
        return (rows, starts, allWords);
    }

    public override LinearProblem Problem(TaskData data)
    {
        var (rows, _, words) = Featurize(data);
        var targets = new List<double>(rows.RowCount);
        for (int i = 0; i < data.Count; i++)
        {
            var e = data.Examples[i];
            int end = e.AnswerStart + e.Label!.Length;
            foreach (var w in words[i]) targets.Add(w.End > e.AnswerStart && w.Start < end ? 1 : 0);
        }
        if (rows.RowCount == 0) throw new InvalidInputException($"{data.Source}: no context has any words");
        return new LinearProblem(rows, LinearLoss.Logistic, 1, targets);
    }

    /// <summary>Every example's predicted answer: characters [Start, End) of its context; (0, 0) for a context without words.</summary>
    public IReadOnlyList<(int Start, int End)> Predict(LinearModel model, TaskData data)
    {
        var (rows, starts, words) = Featurize(data);
        var scores = model.Scores(rows);
        var answers = new List<(int, int)>(data.Count);
        for (int i = 0; i < data.Count; i++)
        {
            if (words[i].Count == 0) { answers.Add((0, 0)); continue; }
            var (first, last) = BestRun(scores.AsSpan(starts[i], starts[i + 1] - starts[i]));
            answers.Add((words[i][first].Start, words[i][last].End));
        }
        return answers;
    }

    /// <summary>The contiguous run [first, last] with the largest sum (Kadane's algorithm); the earliest on a tie.</summary>
    public static (int First, int Last) BestRun(ReadOnlySpan<double> logOdds)
    {
        if (logOdds.Length == 0) throw new ArgumentException("no words", nameof(logOdds));
        (int, int) best = (0, 0);
        double bestSum = logOdds[0], sum = 0;
        int start = 0;
        for (int i = 0; i < logOdds.Length; i++)
        {
            // A run ending at i either extends the best run ending at i - 1 or starts afresh, whichever sums more.
            if (sum < 0) { sum = 0; start = i; }
            sum += logOdds[i];
            if (sum > bestSum) { bestSum = sum; best = (start, i); }
        }
        return best;
    }

    public override BaselineScore Score(LinearModel model, TaskData data)
    {
        var spans = Predict(model, data);
        var predicted = spans.Select((s, i) => data.Examples[i].TextPair![s.Start..s.End]).ToList();
        return BaselineScore.Of(SquadMetrics.Score(predicted, data.Examples.Select(e => e.Label!).ToList()));
    }
}
