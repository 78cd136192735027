using System.Text.Json;
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Prompting;
using Ptm.Tests.Cli;
using Ptm.Tests.Library;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.Prompting;

/// <summary>A tiny GPT (random weights, large init so scores differ clearly) with a byte-level BPE that has &lt;|endoftext|&gt;.</summary>
public sealed class PromptTestModel : IDisposable
{
    public ByteLevelBpeTokenizer Tokenizer { get; }
    public Gpt Model { get; }

    public PromptTestModel()
    {
        manual_seed(21);
        Tokenizer = ByteLevelBpeTokenizer.Train(LibraryTestModels.Corpus, 300, [ByteLevelBpeTokenizer.EndOfText]);
        Model = new Gpt(new GptConfig { VocabSize = Tokenizer.VocabSize, NPositions = 256, NEmbd = 16, NLayer = 2, NHead = 2, InitializerRange = 0.2 });
        Model.eval();
        Directory.CreateDirectory(Folder);
        ModelFolder.SaveModel(Folder, Model, Tokenizer);
    }

    /// <summary>The model saved as a model folder (for the command-line test).</summary>
    public string Folder { get; } = Path.Combine(Path.GetTempPath(), "ptm-prompt-" + Guid.NewGuid().ToString("N"));

    /// <summary>Log-probabilities of ids[from..] each given the ids before it, from one plain forward pass without a cache.</summary>
    public double[] PlainLogProbs(int[] ids, int from)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var logits = Model.forward(tensor(ids.Select(i => (long)i).ToArray(), 1, ids.Length));        // (1, T, V)
        var lp = logits[0].log_softmax(-1);                                                          // (T, V)
        return Enumerable.Range(from, ids.Length - from).Select(t => (double)lp[t - 1, ids[t]].item<float>()).ToArray();
    }

    public void Dispose()
    {
        Model.Dispose();
        try { Directory.Delete(Folder, true); } catch (IOException) { }
    }
}

public class PromptingTests(PromptTestModel fixture) : IClassFixture<PromptTestModel>
{
    static readonly Dictionary<string, string> Light = new() { ["text"] = "let there be light", ["text_pair"] = "and there was light" };

    [Fact]
    public void TemplateRendersGoldenText()
    {
        var t = new PromptTemplate("Definition: {text}\nCategory: {label}");
        Assert.Equal("Definition: let there be light\nCategory: ", t.RenderQuery(Light));
        Assert.Equal("Definition: let there be light\nCategory: day", t.RenderDemonstration(Light, "day"));
        Assert.Equal("Category: ", t.DomainPremise);
        Assert.Equal(["text"], t.Fields);

        var pair = new PromptTemplate("{{{text}}} + {text_pair}? {label}. {{end}}");
        Assert.Equal("{let there be light} + and there was light? yes. {end}", pair.RenderDemonstration(Light, "yes"));
        Assert.Equal("{let there be light} + and there was light? ", pair.RenderQuery(Light));
        Assert.Equal("? ", pair.DomainPremise);
        Assert.Equal("", new PromptTemplate("{text}{label}").DomainPremise);
    }

    [Theory]
    [InlineData("{text} {answer}", "unknown field '{answer}'")]
    [InlineData("{text} {label} {label}", "exactly one {label}")]
    [InlineData("{text}", "exactly one {label}")]
    [InlineData("{text {label}", "unknown field")]
    [InlineData("{text} {label", "not closed")]
    [InlineData("{text}} {label}", "closes nothing")]
    public void TemplateErrorsNameTheProblem(string template, string message)
    {
        var e = Assert.Throws<InvalidInputException>(() => new PromptTemplate(template));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void VerbalizerParsesAndRejectsCollisions()
    {
        var v = Verbalizer.Parse("noun.animal=animal, noun.food = good food");
        Assert.Equal(["animal", "good food", "noun.plant"], v.Words(["noun.animal", "noun.food", "noun.plant"]));
        Assert.Contains("both map to 'animal'", Assert.Throws<InvalidInputException>(() => Verbalizer.Parse("a=animal,b=animal").Words(["a", "b"])).Message);
        Assert.Contains("not label=word", Assert.Throws<InvalidInputException>(() => Verbalizer.Parse("animal")).Message);
    }

    [Fact]
    public void MultiTokenCandidatesScoreAsTheSumOfPlainForwardLogProbabilities()
    {
        var tok = fixture.Tokenizer;
        int[] prefix = [tok.EndOfTextId!.Value, .. tok.Encode("And God said, Let there be light.\n\n")];
        int[] query = tok.Encode("And the evening and the morning were");
        int[][] candidates = [tok.Encode(" the first day"), tok.Encode(" darkness"), tok.Encode(" Night called he")];
        Assert.True(candidates.Count(c => c.Length > 1) >= 2, "the test needs multi-token candidates");
        using var scorer = new CandidateScorer(fixture.Model);
        scorer.SetPrefix(prefix);
        var scores = scorer.Score(query, candidates);
        for (int c = 0; c < candidates.Length; c++)
        {
            int[] full = [.. prefix, .. query, .. candidates[c]];
            var expected = fixture.PlainLogProbs(full, prefix.Length + query.Length);
            Assert.Equal(expected.Length, scores[c].Length);
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], scores[c][i], 1e-5);
            Assert.True(scores[c].Sum() < 0);
        }
    }

    [Fact]
    public void KvPrefixReuseGivesTheScoresOfScoringFromScratch()
    {
        var tok = fixture.Tokenizer;
        int[] prefix = [tok.EndOfTextId!.Value, .. tok.Encode("In the beginning God created the heaven and the earth.\n\n")];
        string[] queries = ["And the darkness he called", "And God said, Let there be", "the first"];
        int[][] candidates = [tok.Encode(" Night"), tok.Encode(" light and day"), tok.Encode(" earth")];
        using var shared = new CandidateScorer(fixture.Model);
        using var scratch = new CandidateScorer(fixture.Model);
        shared.SetPrefix(prefix);
        foreach (string q in queries)
        {
            shared.SetPrefix(prefix);                           // the same prefix again: no new pass
            var reused = shared.Score(tok.Encode(q), candidates);
            scratch.SetPrefix([]);
            var fresh = scratch.Score([.. prefix, .. tok.Encode(q)], candidates);
            for (int c = 0; c < candidates.Length; c++)
                for (int i = 0; i < candidates[c].Length; i++) Assert.Equal(fresh[c][i], reused[c][i], 1e-5);
        }
        Assert.Equal(1, shared.PrefixPasses);
    }

    [Fact]
    public void CalibrationArithmeticMatchesAHandComputedExample()
    {
        // Raw: p = softmax(log 0.6, log 0.4) = (0.6, 0.4). Content-free inputs give (0.8, 0.2) and (0.6, 0.4): p_cf = (0.7, 0.3).
        double[] raw = [Math.Log(0.6), Math.Log(0.4)];
        var pcf = PromptCalibration.ContentFreeProbabilities([[Math.Log(0.8), Math.Log(0.2)], [Math.Log(3.0), Math.Log(2.0)]]);
        Assert.Equal(0.7, pcf[0], 1e-12);
        Assert.Equal(0.3, pcf[1], 1e-12);
        // q ∝ (0.6 / 0.7, 0.4 / 0.3) = (0.857.., 1.333..) → (0.391304.., 0.608695..): the decision flips to class 1.
        var q = PromptCalibration.Softmax(PromptCalibration.Contextual(raw, pcf));
        Assert.Equal(0.6 / 0.7 / (0.6 / 0.7 + 0.4 / 0.3), q[0], 1e-12);
        Assert.Equal(0.391304347826087, q[0], 1e-12);
        // PMI: (-1, -2) − (-0.5, -2.5) = (-0.5, 0.5).
        Assert.Equal([-0.5, 0.5], PromptCalibration.Pmi([-1.0, -2.0], [-0.5, -2.5]));

        var p = new PromptPrediction(1, raw, pcf, [Math.Log(0.9), Math.Log(0.1)], null, 0, false, Calibration.None);
        Assert.Equal(0, p.PredictedUnder(Calibration.None));
        Assert.Equal(1, p.PredictedUnder(Calibration.Contextual));
        Assert.Equal(1, p.PredictedUnder(Calibration.Pmi));          // log(0.6/0.9) < log(0.4/0.1)
    }

    [Theory]
    [InlineData(QueryTruncation.Left)]
    [InlineData(QueryTruncation.Middle)]
    public void TruncationDropsDemonstrationsFirstAndNeverTheQuery(QueryTruncation mode)
    {
        var tok = fixture.Tokenizer;
        var template = new PromptTemplate("{text}\nAnswer: {label}");
        var demos = Enumerable.Range(0, 6).Select(i => template.RenderDemonstration(new Dictionary<string, string> { ["text"] = "the first day " + i }, "day")).ToList();
        int demoLength = tok.Encode(demos[0] + "\n\n").Length;
        int queryLength = tok.Encode("the first day\nAnswer:").Length;
        int context = 1 + queryLength + 3 + 2 * demoLength + demoLength / 2;                // room for two demonstrations and a half
        var packer = new PromptPacker(tok, template, context, "\n\n", mode);

        // The query fits: demonstrations are dropped from the front until the rest fits, the query is whole.
        var fields = new Dictionary<string, string> { ["text"] = "the first day" };
        var packed = packer.Pack(demos, fields, reserve: 3, "test");
        Assert.False(packed.QueryTruncated);
        Assert.Equal(2, packed.Demonstrations);
        Assert.Equal([tok.EndOfTextId!.Value, .. tok.Encode(demos[4] + "\n\n"), .. tok.Encode(demos[5] + "\n\n")], packed.Prefix);
        Assert.Equal(tok.Encode("the first day\nAnswer:"), packed.Query);
        // Room kept for a longer (content-free) query costs the demonstration farthest from the query.
        var roomy = packer.Pack(demos, fields, reserve: 3, "test", queryRoom: queryLength + demoLength);
        Assert.Equal(1, roomy.Demonstrations);
        Assert.Equal(packed.Query, roomy.Query);

        // The query alone is too long: no demonstrations, the field is cut, the answer line stays.
        string longText = string.Join(" ", Enumerable.Repeat("In the beginning God created the heaven and the earth.", context / 20 + 2)) + " THE END";
        var cut = packer.Pack(demos, new Dictionary<string, string> { ["text"] = longText }, reserve: 3, "test");
        Assert.Equal(0, cut.Demonstrations);
        Assert.True(cut.QueryTruncated);
        Assert.True(cut.Prefix.Length + cut.Query.Length + 3 <= context);
        string text = tok.Decode(cut.Query);
        Assert.EndsWith("THE END\nAnswer:", text);
        string kept = text[..^"\nAnswer:".Length];
        Assert.True(kept.Length < longText.Length - 20, "the field was cut");
        if (mode == QueryTruncation.Middle) Assert.StartsWith("In the beginning", kept);
        else Assert.EndsWith(kept, longText);

        // Nothing can be cut: one line naming the source.
        var tiny = new PromptPacker(tok, new PromptTemplate(string.Concat(Enumerable.Repeat("And the evening ", context / 4)) + "{text} {label}"), context, "\n\n", mode);
        Assert.Contains("line 7", Assert.Throws<InvalidInputException>(() => tiny.Pack([], fields, 3, "line 7")).Message);
    }

    [Fact]
    public void SeededSelectionIsDeterministicAndBalancedSelectionBalanced()
    {
        Assert.Equal(DemonstrationSelector.Random(100, 8, 5), DemonstrationSelector.Random(100, 8, 5));
        Assert.NotEqual(DemonstrationSelector.Random(100, 8, 5), DemonstrationSelector.Random(100, 8, 6));
        Assert.Equal(8, DemonstrationSelector.Random(100, 8, 5).Distinct().Count());

        var labels = Enumerable.Range(0, 90).Select(i => i < 60 ? "a" : i < 80 ? "b" : "c").ToList();     // 60 / 20 / 10
        var six = DemonstrationSelector.Balanced(labels, 6, 3);
        Assert.Equal(six, DemonstrationSelector.Balanced(labels, 6, 3));
        Assert.All(six.GroupBy(i => labels[i]), g => Assert.Equal(2, g.Count()));
        Assert.Equal(3, six.Select(i => labels[i]).Distinct().Count());
        var seven = DemonstrationSelector.Balanced(labels, 7, 3);
        Assert.Equal([2, 2, 3], seven.GroupBy(i => labels[i]).Select(g => g.Count()).Order());
        Assert.Equal(7, seven.Distinct().Count());
    }

    [Fact]
    public void NearestSelectionPicksTheMostSimilarLastNextToTheQuery()
    {
        // cos with (1, 0.1): (1,0) 0.995, (0,1) 0.0995, (0.7,0.7) 0.774, (-1,0) -0.995.
        float[][] pool = [[1, 0], [0, 1], [0.7f, 0.7f], [-1, 0]];
        Assert.Equal([1, 2, 0], DemonstrationSelector.Nearest(pool, [1, 0.1f], 3));
        Assert.Equal([1], DemonstrationSelector.Nearest(pool, [0, 5], 1));
    }

    static TaskData Train => TaskData.Classification([
        ("In the beginning God created the heaven", "light"), ("And the darkness he called Night", "dark"),
        ("Let there be light", "light"), ("And the evening", "dark"), ("the first day", "light"), ("Night", "dark")]);

    [Fact]
    public void PredictorScoresTheRenderedPromptAsAPlainForwardPassWould()
    {
        var tok = fixture.Tokenizer;
        var test = TaskData.Classification([("And God said", "light"), ("the morning were", "dark")]);
        var options = new PromptOptions
        {
            Template = "Text: {text}\nIt is {label}", Verbalizer = Verbalizer.Parse("light=bright day,dark=night"), Shots = 2, Seed = 4,
            Calibrations = [Calibration.None, Calibration.Contextual, Calibration.Pmi],
        };
        var run = new PromptPredictor(fixture.Model, tok).Run(FineTuneTask.Classify, Train, test, options);
        Assert.Equal(["dark", "light"], run.Labels);
        Assert.Equal([1, 0], run.Gold);
        Assert.Equal(1, run.PrefixPasses);                                  // one demonstration set, run once
        var demos = DemonstrationSelector.Random(Train.Count, 2, 4);
        string prefix = string.Concat(demos.Select(i => $"Text: {Train.Examples[i].Text}\nIt is {(Train.Examples[i].Label == "light" ? "bright day" : "night")}\n\n"));
        for (int e = 0; e < test.Count; e++)
        {
            var p = run.Predictions[e];
            Assert.Equal(2, p.Demonstrations);
            string[] words = [" night", " bright day"];
            for (int c = 0; c < 2; c++)
            {
                int[] head = [tok.EndOfTextId!.Value, .. tok.Encode(prefix), .. tok.Encode($"Text: {test.Examples[e].Text}\nIt is")];
                double expected = fixture.PlainLogProbs([.. head, .. tok.Encode(words[c])], head.Length).Sum();
                Assert.Equal(expected, p.RawScores[c], 1e-4);
                int[] premise = [tok.EndOfTextId!.Value, .. tok.Encode("It is")];
                Assert.Equal(expected - fixture.PlainLogProbs([.. premise, .. tok.Encode(words[c])], premise.Length).Sum(), p.Scores(Calibration.Pmi)[c], 1e-4);
            }
            Assert.Equal(1.0, p.ContentFree!.Sum(), 1e-9);
        }
        var m = run.Classification(Calibration.None)!;
        Assert.Equal(run.Predictions.Zip(run.Gold!).Count(x => x.First.Predicted == x.Second) / 2.0, m.Accuracy);
    }

    [Fact]
    public void PromptCommandWritesMetricsForEveryCalibration()
    {
        using var dir = new TempDir();
        string train = dir.File("train.csv", "text,label\nLet there be light,light\nAnd the darkness he called Night,dark\nthe first day,light\nthe evening,dark\n");
        string test = dir.File("test.csv", "text,label\nAnd God said,light\nthe morning,dark\nthe darkness,dark\n");
        string metrics = dir.Sub("m.json"), preds = dir.Sub("p.jsonl");
        var r = CliHarness.Run("prompt", "--model", fixture.Folder, "--task", "classify", "--file", test, "--train", train, "--shots", "2",
            "--demo-selection", "balanced", "--template", "{text}\\nIt is {label}", "--calibration", "contextual,none,pmi", "--out", metrics, "--predictions", preds);
        Assert.True(r.ExitCode == 0, r.Err);
        using var json = JsonDocument.Parse(File.ReadAllText(metrics));
        var cal = json.RootElement.GetProperty("calibrations");
        foreach (string c in new[] { "none", "contextual", "pmi" }) Assert.InRange(cal.GetProperty(c).GetProperty("accuracy").GetDouble(), 0, 1);
        Assert.Equal(2.0, json.RootElement.GetProperty("demonstrations_mean").GetDouble());
        Assert.Equal(3, File.ReadAllLines(preds).Length);
        Assert.Contains("\"gold\":\"light\"", File.ReadAllLines(preds)[0]);

        CliHarness.AssertOneLineError(CliHarness.Run("prompt", "--model", fixture.Folder, "--task", "classify", "--file", test, "--shots", "2"), "--shots", "training examples");
        CliHarness.AssertOneLineError(CliHarness.Run("prompt", "--model", fixture.Folder, "--task", "classify", "--file", test, "--template", "{txt} {label}"), "unknown field '{txt}'");
    }

    [Fact]
    public void PromptCommandReadsAHuggingFaceGpt2Folder()
    {
        using var dir = new TempDir();
        string test = dir.File("test.csv", "text,label\nhello world,yes\nthe cat,no\n");
        string metrics = dir.Sub("m.json");
        var r = CliHarness.Run("prompt", "--model", Ptm.Tests.HuggingFace.HfFixtures.Gpt2, "--task", "classify", "--file", test,
            "--template", "{text}? {label}", "--calibration", "pmi", "--out", metrics);
        Assert.True(r.ExitCode == 0, r.Err);
        using var json = JsonDocument.Parse(File.ReadAllText(metrics));
        Assert.Equal(["no", "yes"], json.RootElement.GetProperty("labels").EnumerateArray().Select(e => e.GetString()));
        Assert.InRange(json.RootElement.GetProperty("accuracy").GetDouble(), 0, 1);
    }

    [Fact]
    public void SpanAnswersAreTheGreedyContinuationOfAPlainForwardPass()
    {
        var tok = fixture.Tokenizer;
        var data = new TaskData("spans", [new TaskExample(2, "what was called Night", "And the darkness he called Night", null, "darkness", AnswerStart: 8),
            new TaskExample(3, "the first", "the evening and the morning were the first day", null, "day")]);
        var run = new PromptPredictor(fixture.Model, tok).Run(FineTuneTask.Span, null, data, new PromptOptions { MaxNewTokens = 6 });
        for (int e = 0; e < data.Count; e++)
        {
            var ex = data.Examples[e];
            var ids = new List<int> { tok.EndOfTextId!.Value };
            ids.AddRange(tok.Encode($"Question: {ex.Text}\nContext: {ex.TextPair}\nAnswer:"));
            var produced = new List<int>();
            while (produced.Count < 6)
            {
                using var _ = no_grad();
                using var scope = NewDisposeScope();
                int next = (int)fixture.Model.forward(tensor(ids.Select(i => (long)i).ToArray(), 1, ids.Count))[0, -1].argmax().item<long>();
                if (next == tok.EndOfTextId || tok.Decode([next]).Contains('\n')) break;
                produced.Add(next);
                ids.Add(next);
            }
            Assert.Equal(tok.Decode(produced.ToArray()).Trim(), run.Predictions[e].Generated);
        }
        Assert.NotNull(run.Spans);
    }

    [Fact]
    public void ContentFreeQueriesLongerThanTheQueryStillFitAfterTheDemonstrations()
    {
        // "[MASK]" is longer than the query's "a": the demonstrations must leave room for it (they fill the context otherwise).
        string longText = string.Join(" ", Enumerable.Repeat("And God said, Let there be light: and there was light.", 2));
        var train = TaskData.Classification(Enumerable.Range(0, 12).Select(i => (longText + " " + i, i % 2 == 0 ? "light" : "dark")));
        var test = TaskData.Classification([("a", "light"), ("the first day", "dark")]);
        var options = new PromptOptions { Template = "Text: {text}\nIt is {label}", Shots = 12, Calibrations = [Calibration.Contextual] };
        var run = new PromptPredictor(fixture.Model, fixture.Tokenizer).Run(FineTuneTask.Classify, train, test, options);
        Assert.InRange(run.MeanDemonstrations, 1, 11);
        Assert.All(run.Predictions, p => Assert.Equal(1.0, p.ContentFree!.Sum(), 1e-9));
    }
}
