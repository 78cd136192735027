using Ptm.FineTuning;

namespace Ptm.Tests.FineTuning;

/// <summary>Task files in three formats, the label map, splits, metrics, and every documented bad input.</summary>
public class FineTuningDataTests
{
    static TaskData Read(TempDir dir, string name, string content, FineTuneTask task = FineTuneTask.Classify, TaskColumns? columns = null, bool requireLabel = true) =>
        TaskFile.Read(dir.File(name, content), task, columns ?? new TaskColumns(), requireLabel);

    static InvalidInputException Fails(Action action) => Assert.Throws<InvalidInputException>(action);

    [Fact]
    public void CsvHandlesQuotesCommasAndNewlinesAndTracksLines()
    {
        using var dir = new TempDir();
        var data = Read(dir, "a.csv", "label,text\npos,\"Light, and \"\"day\"\"\"\n\nneg,\"two\nlines\"\npos,plain\n");
        Assert.Equal(["Light, and \"day\"", "two\nlines", "plain"], data.Examples.Select(e => e.Text));
        Assert.Equal([2, 4, 6], data.Examples.Select(e => e.Line));
        Assert.Equal(["pos", "neg", "pos"], data.Examples.Select(e => e.Label));
    }

    [Fact]
    public void TsvAndJsonlWithRenamedColumnsAndChoiceArrays()
    {
        using var dir = new TempDir();
        var tsv = Read(dir, "a.tsv", "premise\thypothesis\ty\nA man.\tA person.\tyes\n", FineTuneTask.Pair, new TaskColumns("premise", "hypothesis", "y"));
        Assert.Equal(("A man.", "A person.", "yes"), (tsv.Examples[0].Text, tsv.Examples[0].TextPair, tsv.Examples[0].Label));
        var jsonl = Read(dir, "c.jsonl", "{\"q\":\"Let there be\",\"opts\":[\"light\",\"dark\"],\"label\":0}\n\n{\"q\":\"x\",\"opts\":[\"a\",\"b\"],\"label\":1}\n",
            FineTuneTask.Choice, new TaskColumns(Text: "q", Choices: "opts"));
        Assert.Equal(["light", "dark"], jsonl.Examples[0].Choices!);
        Assert.Equal(["0", "1"], jsonl.Examples.Select(e => e.Label));
        Assert.Equal([1, 3], jsonl.Examples.Select(e => e.Line));
        var csvChoices = Read(dir, "c.csv", "text,choices,label\nctx,a|b|c,2\n", FineTuneTask.Choice);
        Assert.Equal(["a", "b", "c"], csvChoices.Examples[0].Choices!);
    }

    [Fact]
    public void UnknownColumnNamesTheColumnAndTheFileColumns()
    {
        using var dir = new TempDir();
        var e = Fails(() => Read(dir, "a.csv", "sentence,label\nhi,pos\n"));
        Assert.Contains("unknown column 'text'", e.Message);
        Assert.Contains("sentence, label", e.Message);
        Assert.Contains("unknown column 'text_pair'", Fails(() => Read(dir, "b.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n", FineTuneTask.Pair)).Message);
    }

    [Fact]
    public void EmptyFilesAreErrors()
    {
        using var dir = new TempDir();
        Assert.Contains("a.csv: the file is empty", Fails(() => Read(dir, "a.csv", "")).Message);
        Assert.Contains("no examples", Fails(() => Read(dir, "b.csv", "text,label\n")).Message);
        Assert.Contains("no examples", Fails(() => Read(dir, "c.jsonl", "\n\n")).Message);
    }

    [Fact]
    public void UnequalChoiceCountsNameBothLines()
    {
        using var dir = new TempDir();
        var e = Fails(() => Read(dir, "a.jsonl", "{\"text\":\"a\",\"choices\":[\"x\",\"y\"],\"label\":0}\n{\"text\":\"b\",\"choices\":[\"x\",\"y\",\"z\"],\"label\":0}\n", FineTuneTask.Choice));
        Assert.Contains("line 2: 3 choices, but line 1 has 2", e.Message);
    }

    [Fact]
    public void OtherMalformedRowsAreOneLineErrors()
    {
        using var dir = new TempDir();
        Assert.Contains("line 2: 3 fields, but the header has 2", Fails(() => Read(dir, "a.csv", "text,label\na,b,c\n")).Message);
        Assert.Contains("line 2: not valid JSON", Fails(() => Read(dir, "b.jsonl", "{\"text\":\"a\",\"label\":\"x\"}\n{oops\n")).Message);
        Assert.Contains("unknown format '.txt'", Fails(() => Read(dir, "c.txt", "x")).Message);
        Assert.Contains("quoted field is not closed", Fails(() => Read(dir, "d.csv", "text,label\n\"open,x\n")).Message);
    }

    [Fact]
    public void LabelMapIsSortedAndAnUnseenLabelNamesFileAndLine()
    {
        var map = LabelMap.FromTraining(new TaskData("t", [new(2, "a", null, null, "pos"), new(3, "b", null, null, "neg"), new(4, "c", null, null, "pos")]));
        Assert.Equal(["neg", "pos"], map.Labels);
        var e = Fails(() => map.Id("neutral", "val.csv", 7));
        Assert.Equal("val.csv, line 7: label 'neutral' was not seen in training (known: neg, pos)", e.Message);
        Assert.Contains("only one label", Fails(() => LabelMap.FromTraining(new TaskData("t", [new(2, "a", null, null, "pos")]))).Message);
        Assert.Contains("is not a number", Fails(() => LabelMap.Score("high", "s.csv", 3)).Message);
        Assert.Contains("0-based index", Fails(() => LabelMap.ChoiceIndex("2", 2, "c.jsonl", 3)).Message);
    }

    [Fact]
    public void LabelMapRoundTripsThroughLabelsJson()
    {
        using var dir = new TempDir();
        new LabelMap(["b", "a", "c"]).Save(dir.Path);
        Assert.Equal(["b", "a", "c"], LabelMap.Load(dir.Path).Labels);
    }

    [Fact]
    public void ValidationSplitIsSeededDisjointAndComplete()
    {
        var data = new TaskData("t", Enumerable.Range(0, 50).Select(i => new TaskExample(i + 2, $"t{i}", null, null, "x")).ToList());
        var (train, val) = TaskFile.Split(data, 0.2, 5);
        var (train2, val2) = TaskFile.Split(data, 0.2, 5);
        var (_, val3) = TaskFile.Split(data, 0.2, 6);
        Assert.Equal(10, val.Count);
        Assert.Equal(val.Examples, val2.Examples);
        Assert.Equal(train.Examples, train2.Examples);
        Assert.NotEqual(val.Examples.Select(e => e.Line), val3.Examples.Select(e => e.Line));
        Assert.Equal(data.Examples.Select(e => e.Line), train.Examples.Concat(val.Examples).Select(e => e.Line).Order());
    }

    [Fact]
    public void MacroF1AndConfusionMatrix()
    {
        // gold: 0 0 0 1 1 2; predicted: 0 0 1 1 1 0
        var m = TaskMetrics.Classification([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 1, 0], 3);
        Assert.Equal(4.0 / 6, m.Accuracy, 10);
        // F1: class 0 = 2·2/(3+3) = 2/3, class 1 = 2·2/(2+3) = 0.8, class 2 = 0.
        Assert.Equal((2.0 / 3 + 0.8 + 0) / 3, m.MacroF1, 10);
        Assert.Equal(new[,] { { 2, 1, 0 }, { 0, 2, 0 }, { 1, 0, 0 } }, m.Confusion);
    }

    [Fact]
    public void PearsonAndSpearmanWithTies()
    {
        var c = TaskMetrics.Correlation([1, 2, 3, 4], [1, 4, 9, 16]);
        Assert.Equal(1.0, c.Spearman, 10);
        Assert.True(c.Pearson is > 0.98 and < 1.0);
        Assert.Equal([1.5, 1.5, 3, 4], TaskMetrics.Ranks([5, 5, 6, 7]));
        Assert.Equal(-1.0, TaskMetrics.Correlation([1, 2, 3], [3, 2, 1]).Pearson, 10);
    }
}
