using Ptm.FineTuning;
using Ptm.FineTuning.Baselines;

namespace Ptm.Tests.FineTuning;

/// <summary>The classic baseline on toy tasks whose answers a linear model over its features can get exactly.</summary>
public class BaselineTaskTests
{
    static readonly BaselineOptions Options = new([1e-3, 1e-2, 1e-1]);

    static TaskData Data(string name, IEnumerable<TaskExample> examples) => new(name, examples.ToList());

    static TaskExample Text(int line, string text, string label, string? pair = null) => new(line, text, pair, null, label);

    [Fact]
    public void ALinearlySeparableSetIsClassifiedPerfectly()
    {
        string[] good = ["good", "great", "fine"], bad = ["bad", "awful", "poor"], filler = ["movie", "film", "show", "story"];
        var train = Data("train", Enumerable.Range(0, 24).Select(i => i % 2 == 0
            ? Text(i, $"a {good[i % 3]} {filler[i % 4]}", "pos") : Text(i, $"a {bad[i % 3]} {filler[(i + 1) % 4]}", "neg")));
        var validation = Data("validation", Enumerable.Range(0, 12).Select(i => i % 3 == 0
            ? Text(i, $"the {filler[i % 4]} was {good[(i + 1) % 3]}", "pos") : Text(i, $"{bad[i % 3]}, {filler[(i + 2) % 4]}", "neg")));
        var report = ClassicBaseline.Run(FineTuneTask.Classify, train, validation, validation, Options);
        Assert.Equal("accuracy", report.Metric);
        Assert.Equal(1.0, report.Validation["accuracy"]);
        Assert.Equal(1.0, report.Test!["accuracy"]);
        Assert.Equal(1.0, ClassicBaseline.Run(FineTuneTask.Classify, train, train, null, Options).Validation["accuracy"]);
        Assert.All(report.Trials, t => Assert.True(t.Converged));
        // Every λ separates this set, so the tie goes to the strongest.
        Assert.Equal(0.1, report.Chosen.L2);
        // Majority: train is 12/12, so the first label in the map ('neg'); validation has 8 neg of 12.
        Assert.Equal("neg", report.MajorityValidation!.Label);
        Assert.Equal(8 / 12.0, report.MajorityValidation.Score["accuracy"], 12);
        Assert.Equal((2 * 8.0 / (8 + 12)) / 2, report.MajorityValidation.Score["macro_f1"], 12);
    }

    [Fact]
    public void ThePairProductFeatureLearnsWordOverlap()
    {
        // Label: do the two texts share a word? Neither text alone says; only BoW(a) ⊙ BoW(b) does.
        string[] w = ["sun", "moon", "star", "rain", "snow", "wind"];
        var rng = new Random(4);
        TaskExample Pair(int line)
        {
            int a = rng.Next(6), b = rng.Next(6), c = rng.Next(6), d = rng.Next(6);
            bool shared = a == c || a == d || b == c || b == d;
            return Text(line, $"{w[a]} {w[b]}", shared ? "yes" : "no", $"{w[c]} {w[d]}");
        }
        var train = Data("train", Enumerable.Range(0, 300).Select(Pair));
        var validation = Data("validation", Enumerable.Range(0, 100).Select(Pair));
        var report = ClassicBaseline.Run(FineTuneTask.Pair, train, validation, null, new BaselineOptions([1e-4, 1e-3]));
        Assert.Equal(1.0, report.Validation["accuracy"]);
        Assert.Null(report.Test);
    }

    [Fact]
    public void SimilarityIsRidgeRegressionOnTheSameFeatures()
    {
        string[] w = ["sun", "moon", "star", "rain", "snow", "wind"];
        var rng = new Random(8);
        TaskExample Pair(int line)
        {
            int a = rng.Next(6), b = rng.Next(6), c = rng.Next(6), d = rng.Next(6);
            int shared = new[] { a, b }.Distinct().Count(x => x == c || x == d);
            return Text(line, $"{w[a]} {w[b]}", (2.5 * shared).ToString(System.Globalization.CultureInfo.InvariantCulture), $"{w[c]} {w[d]}");
        }
        var train = Data("train", Enumerable.Range(0, 300).Select(Pair));
        var validation = Data("validation", Enumerable.Range(0, 100).Select(Pair));
        var report = ClassicBaseline.Run(FineTuneTask.Similarity, train, validation, null, new BaselineOptions([1e-4, 1e-2]));
        Assert.Equal("pearson", report.Metric);
        Assert.True(report.Validation["pearson"] > 0.95, $"pearson {report.Validation["pearson"]}");
        Assert.Null(report.MajorityValidation);
    }

    [Fact]
    public void TheChoiceScorerPicksTheAnswerThatSharesAWordWithTheContext()
    {
        string[] colours = ["red", "blue", "green", "yellow"];
        TaskExample Example(int line, string template, int right, int shift)
        {
            var order = Enumerable.Range(0, 4).Select(k => (k + shift) % 4).ToArray();
            return new TaskExample(line, string.Format(template, colours[right]), null,
                order.Select(k => $"a {colours[k]} thing").ToArray(), Array.IndexOf(order, right).ToString());
        }
        var train = Data("train", Enumerable.Range(0, 32).Select(i => Example(i, i % 2 == 0 ? "I saw a {0} ___ today" : "the {0} ___ was here", i % 4, i / 4 % 4)));
        var test = Data("test", Enumerable.Range(0, 8).Select(i => Example(i, "my {0} ___ is new", (i + 1) % 4, (i + 2) % 4)));
        var report = ClassicBaseline.Run(FineTuneTask.Choice, train, test, test, Options);
        Assert.Equal(1.0, report.Validation["accuracy"]);
        // The scorer ranks by the overlap block: every colour's weight there is positive.
        var baseline = new ChoiceBaseline(train, 2, TermWeighting.Binary);
        int v = baseline.Words.Dimension;
        foreach (string c in colours)
        {
            Assert.True(baseline.Words.Vocabulary.TryGetId(c, out int id));
            Assert.True(report.Model.Weight(v + id, 0) > 0, $"overlap weight of '{c}'");
        }
        Assert.Equal(1.0, baseline.Predict(report.Model, test).Select((p, i) => p == int.Parse(test.Examples[i].Label!) ? 1.0 : 0).Average());
    }

    [Fact]
    public void ChoiceFilesMustHaveTheTrainingNumberOfChoices()
    {
        var train = Data("train.jsonl", Enumerable.Range(0, 4).Select(i => new TaskExample(i + 1, "a b", null, ["a", "b"], (i % 2).ToString())));
        var three = Data("val.jsonl", [new TaskExample(7, "a b", null, ["a", "b", "c"], "0")]);
        var e = Assert.Throws<InvalidInputException>(() => ClassicBaseline.Run(FineTuneTask.Choice, train, three, null, Options));
        Assert.Equal("val.jsonl, line 7: 3 choices, but the training examples have 2", e.Message);
    }

    static TaskExample Span(int line, string question, string context, string answer) =>
        new(line, question, context, null, answer, AnswerStart: context.IndexOf(answer, StringComparison.Ordinal));

    [Fact]
    public void TheSpanBaselineReturnsTheAnswersExactCharacters()
    {
        string[] colours = ["red", "blue", "green"];
        string[] templates = ["the {0} car is fast", "I like {0} shoes", "{0} is my favourite", "paint it {0} now", "a {0} sky over {1}"];
        string[] places = ["rome", "paris", "oslo", "lima", "kyiv", "bern"];
        var train = Data("train", Enumerable.Range(0, 30).Select(i =>
        {
            string c = colours[i % 3];
            return Span(i, "which colour?", string.Format(templates[i % 5], c, places[i % 6]), c);
        }));
        var validation = Data("validation", [
            Span(1, "which colour?", "Yesterday my car was RED, I think", "RED"),
            Span(2, "which colour?", "Green is my favourite", "Green"),
            Span(3, "which colour?", "a dull blue sky over oslo", "blue"),
        ]);
        var report = ClassicBaseline.Run(FineTuneTask.Span, train, validation, null, Options);
        var baseline = new SpanBaseline(train, 2, TermWeighting.Binary);
        Assert.Equal([(21, 24), (0, 5), (7, 11)], baseline.Predict(report.Model, validation));
        Assert.Equal(1.0, report.Validation["exact_match"]);
        Assert.Equal(1.0, report.Validation["f1"]);
    }

    [Fact]
    public void TheTagBaselineUsesNeighboursAndScoresEntities()
    {
        string[] first = ["john", "mary", "alice", "bob"], last = ["smith", "jones"], verbs = ["met", "saw", "called"];
        TaskExample Sentence(int line, int a, int b, int c, int v)
        {
            string[] words = [Cap(first[a]), Cap(last[b]), verbs[v], Cap(first[c])];
            return new TaskExample(line, string.Join(' ', words), null, null, null, words, ["B-PER", "I-PER", "O", "B-PER"]);
        }
        static string Cap(string s) => char.ToUpperInvariant(s[0]) + s[1..];
        TaskExample Later(int line, int a, int b) =>
            new(line, "", null, null, null, ["yesterday", Cap(first[a]), Cap(last[b]), "left"], ["O", "B-PER", "I-PER", "O"]);
        var train = Data("train", Enumerable.Range(0, 24).Select(i => i % 3 == 2 ? Later(i, i % 4, i % 2) : Sentence(i, i % 4, i % 2, (i + 1) % 4, i % 3)));
        var test = Data("test", [Sentence(1, 2, 1, 3, 0), Sentence(2, 3, 0, 0, 2),
            new TaskExample(3, "yesterday", null, null, null, ["yesterday"], ["O"])]);
        var report = ClassicBaseline.Run(FineTuneTask.Tag, train, test, test, Options);
        Assert.Equal("entity_f1", report.Metric);
        Assert.Equal(1.0, report.Test!["entity_f1"]);
        Assert.Equal(1.0, report.Test["token_accuracy"]);
        Assert.Null(report.MajorityTest);
    }
}
