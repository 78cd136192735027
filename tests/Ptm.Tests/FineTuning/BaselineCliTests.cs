using System.Text.Json;
using Ptm.Tests.Cli;

namespace Ptm.Tests.FineTuning;

/// <summary>`ptm baseline` end to end on small files, and its one-line errors.</summary>
public class BaselineCliTests
{
    static string Sentiment(int first, int count) => "id,sentence,label\n" + string.Concat(Enumerable.Range(first, count).Select(i => i % 2 == 0
        ? $"{i},\"a {(i % 4 == 0 ? "good" : "great")} film, really\",pos\n"
        : $"{i},\"a {(i % 3 == 0 ? "bad" : "awful")} film, really\",neg\n"));

    [Fact]
    public void ClassifyPrintsTheSearchTheChosenL2AndTheMajorityAndWritesTheSameJson()
    {
        using var dir = new TempDir();
        string train = dir.File("train.csv", Sentiment(0, 21)), validation = dir.File("validation.csv", Sentiment(100, 6)), test = dir.File("test.csv", Sentiment(200, 5));
        string json = dir.Sub("out/metrics.json");
        int threads = TorchSharp.torch.get_num_threads();
        var r = CliHarness.Run("baseline", "--task", "classify", "--train", train, "--validation", validation, "--test", test,
            "--text", "sentence", "--l2", "1e-3,1e-1", "--out", json, "--threads", threads == 1 ? "2" : "1");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Equal(threads, TorchSharp.torch.get_num_threads());   // process-wide, so put back
        Assert.Contains("task      classify: 21 train, 6 validation, 5 test examples", r.Out);
        Assert.Contains("features  BoW(text): 8 words; min count 2, binary", r.Out);   // a , film really good great bad awful
        Assert.Contains("chosen    l2 0.1 (best validation accuracy)", r.Out);
        Assert.Contains("validation accuracy 1.0000  macro_f1 1.0000", r.Out);
        Assert.Contains("test       accuracy 1.0000  macro_f1 1.0000", r.Out);
        // Train has 11 pos and 10 neg; validation 3 and 3, test 3 pos of 5.
        Assert.Contains("majority  'pos' (the training split's most frequent): validation accuracy 0.5000  macro_f1 0.3333", r.Out);
        Assert.Contains("          test accuracy 0.6000  macro_f1 0.3750", r.Out);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("classify", root.GetProperty("task").GetString());
        Assert.Equal(0.1, root.GetProperty("l2").GetDouble());
        Assert.Equal(2, root.GetProperty("l2_search").GetArrayLength());
        Assert.All(root.GetProperty("l2_search").EnumerateArray(), t => Assert.True(t.GetProperty("converged").GetBoolean()));
        Assert.Equal(1.0, root.GetProperty("test_metrics").GetProperty("accuracy").GetDouble());
        Assert.Equal("pos", root.GetProperty("majority").GetProperty("label").GetString());
        Assert.Equal(0.6, root.GetProperty("majority").GetProperty("test_metrics").GetProperty("accuracy").GetDouble(), 12);
        Assert.Equal(5, root.GetProperty("examples").GetProperty("test").GetInt32());
        Assert.Equal(["metrics.json"], Directory.GetFiles(dir.Sub("out")).Select(Path.GetFileName));   // no temporary left
    }

    [Fact]
    public void WithoutValidationASeededSplitIsHeldOut()
    {
        using var dir = new TempDir();
        string train = dir.File("train.csv", Sentiment(0, 40));
        var a = CliHarness.Run("baseline", "--task", "classify", "--train", train, "--text", "sentence", "--validation-split", "0.25", "--seed", "3");
        var b = CliHarness.Run("baseline", "--task", "classify", "--train", train, "--text", "sentence", "--validation-split", "0.25", "--seed", "3");
        Assert.True(a.ExitCode == 0, a.Err);
        Assert.Contains("task      classify: 30 train, 10 validation examples", a.Out);
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void SpanColumnsAreRenamedWithTheFinetuneOptions()
    {
        using var dir = new TempDir();
        string[] colours = ["red", "blue", "green"];
        string rows = "q,ctx,at,ans\n" + string.Concat(Enumerable.Range(0, 12).Select(i => i % 2 == 0
            ? $"which colour,the {colours[i % 3]} car,4,{colours[i % 3]}\n"
            : $"which colour,{colours[i % 3]} is nice,0,{colours[i % 3]}\n"));
        string train = dir.File("span.csv", rows);
        var r = CliHarness.Run("baseline", "--task", "span", "--train", train, "--validation", train,
            "--question", "q", "--context", "ctx", "--answer-start", "at", "--answer", "ans");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("validation exact_match 1.0000  f1 1.0000", r.Out);
        Assert.DoesNotContain("majority", r.Out);
    }

    [Fact]
    public void BadInputIsOneLineAndExitCodeOne()
    {
        using var dir = new TempDir();
        string empty = dir.File("empty.csv", "");
        string train = dir.File("train.csv", Sentiment(0, 10));
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "classify", "--train", empty), empty, "empty");
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "classify", "--train", train), train, "unknown column 'text'", "sentence");
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "classify", "--train", train, "--text", "sentence", "--l2", "0"), "--l2", "'0'");
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "classify", "--train", train, "--text", "sentence", "--min-count", "0"), "--min-count");
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "classify", "--train", train, "--text", "sentence", "--min-count", "50"), train, "no word occurs 50");
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "rank", "--train", train), "--task");
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "classify", "--train", dir.Sub("missing.csv")), "missing.csv", "no such file");
        string unseen = dir.File("unseen.csv", "sentence,label\ngood film,meh\n");
        CliHarness.AssertOneLineError(CliHarness.Run("baseline", "--task", "classify", "--train", train, "--text", "sentence", "--validation", unseen),
            unseen, "line 2", "label 'meh' was not seen in training");
    }
}
