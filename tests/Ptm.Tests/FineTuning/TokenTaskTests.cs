using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tests.Cli;
using Ptm.Tests.Data;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.FineTuning;

/// <summary>Tagging and span QA: inputs, label placement, offsets back to characters, decoding and metrics.</summary>
public class TokenTaskTests(FineTuningTestModels models) : IClassFixture<FineTuningTestModels>
{
    static WordPieceTokenizer Tokenizer(string bertDir) => (WordPieceTokenizer)TokenizerFiles.Load(bertDir);

    static readonly string[] Words = ["In", "the", "beginning", "God", "created", "heaven", "unbelievably"];

    /// <summary>The family's token-level framing, GPT's with the task tokens its fine-tuning adds.</summary>
    ITokenTaskFraming Framing(string family)
    {
        if (family == "bert") return new BertTokenFraming(Tokenizer(models.BertDir));
        var encoder = (GptTaskEncoder)FineTuneModel.FromPretrained(models.GptDir, FineTuneTask.Span, null, new HeadOptions()).Encoder;
        return new GptTokenFraming(encoder.Tokenizer, encoder.Tokens);
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("gpt")]
    public void TagLabelsSitOnTheFirstPieceOfEachWordOnly(string family)
    {
        var framing = Framing(family);
        int[] tags = [0, 0, 1, 2, 0, 1, 2];
        var e = TagEncoding.Encode(framing, Words, tags, 48);
        int[] ids = e.Sequences[0], labels = e.TokenLabels!, first = e.WordFirstTokens!;
        Assert.Equal(framing.Open, ids[0]);
        Assert.Equal(framing.Close, ids[^1]);
        Assert.True(ids.Length > Words.Length + 2, "some word must be split into several pieces for this test to mean anything");
        for (int w = 0; w < Words.Length; w++)
        {
            Assert.Equal(tags[w], labels[first[w]]);
            int end = w + 1 < Words.Length ? first[w + 1] : ids.Length - 1;
            Assert.All(Enumerable.Range(first[w] + 1, end - first[w] - 1), t => Assert.Equal(TagEncoding.Ignore, labels[t]));
            Assert.Equal(framing.WordPieces(Words, w), ids[first[w]..end]);
        }
        // Word by word gives exactly the tokens of the running text (GPT: every word after the first with its space).
        Assert.Equal(framing.Encode(string.Join(' ', Words)), ids[1..^1]);
        Assert.Equal(Words.Length, labels.Count(l => l != TagEncoding.Ignore));
        Assert.False(e.Truncated);
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("gpt")]
    public void TaggingTruncatesWholeWordsAndSaysSo(string family)
    {
        var e = TagEncoding.Encode(Framing(family), Words, [0, 0, 0, 0, 0, 0, 0], 8);
        Assert.True(e.Truncated);
        Assert.True(e.Sequences[0].Length <= 8);
        Assert.Contains(-1, e.WordFirstTokens!);
        Assert.Equal(e.WordFirstTokens!.Count(t => t >= 0), e.TokenLabels!.Count(l => l != TagEncoding.Ignore));
    }

    [Fact]
    public void TruncationWarningSaysWhatEachTaskCuts()
    {
        var data = new TaskData("f.csv", [new TaskExample(2, "a", null, null, "x"), new TaskExample(3, "b", null, null, "x")]);
        var set = new EncodedTaskSet(data, [], 1);
        Assert.Equal("warning: f.csv: 1 of 2 sentences did not fit in 16 tokens; their last words were cut, are predicted as the default tag and still count in the metrics",
            set.TruncationWarning(FineTuneTask.Tag, 16));
        Assert.Equal("warning: f.csv: 1 of 2 questions were longer than 8 tokens (half of the max length) and were cut to their first 8; contexts are never cut (long ones are split into windows)",
            set.TruncationWarning(FineTuneTask.Span, 16));
        Assert.Equal("warning: f.csv: 1 of 2 examples were longer than 16 tokens and were truncated (longest part first)", set.TruncationWarning(FineTuneTask.Pair, 16));
        Assert.Null((set with { TruncatedCount = 0 }).TruncationWarning(FineTuneTask.Span, 16));
    }

    [Fact]
    public void EntitiesNeedTypeAndBothBoundaries()
    {
        Assert.Equal([new TaggedEntity("PER", 0, 2), new TaggedEntity("LOC", 3, 4), new TaggedEntity("ORG", 4, 5), new TaggedEntity("ORG", 6, 7)],
            TagMetrics.Entities(["B-PER", "I-PER", "O", "B-LOC", "I-ORG", "O", "I-ORG"]));
        Assert.Equal([new TaggedEntity("X", 0, 1), new TaggedEntity("X", 1, 2)], TagMetrics.Entities(["B-X", "B-X"]));
        // gold: PER[0,2) LOC[3,4); predicted: PER[0,1) (wrong boundary) and LOC[3,4) (right) → P 1/2, R 1/2.
        var m = TagMetrics.Score([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "O", "O", "B-LOC"]]);
        Assert.Equal(0.5, m.Precision, 9);
        Assert.Equal(0.5, m.Recall, 9);
        Assert.Equal(0.5, m.F1, 9);
        Assert.Equal(0.75, m.TokenAccuracy, 9);
    }

    [Fact]
    public void TokenHeadsHaveHuggingFaceNamesAndShapes()
    {
        var config = new BertConfig { VocabSize = 50, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 16 };
        var tc = new BertForTokenClassification(new BertModel(config), 5);
        var qa = new BertForQuestionAnswering(new BertModel(config));
        Assert.Equal([5L, 16], tc.state_dict()["classifier.weight"].shape);
        Assert.Equal([2L, 16], qa.state_dict()["qa_outputs.weight"].shape);
        Assert.Contains("bert.embeddings.word_embeddings.weight", qa.state_dict().Keys);
        var ids = randint(0, 50, [3, 7]);
        var inputs = new BertInputs(ids, zeros_like(ids), ones_like(ids));
        Assert.Equal([3L, 7, 5], tc.forward(inputs).shape);
        Assert.Equal([3L, 7, 2], qa.forward(inputs).shape);
        Assert.True(FineTuneModel.IsHeadParameter("qa_outputs.bias"));
    }

    const string LongContext = "In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness was upon the face of the deep. And God said, Let there be light: and there was light.";

    static TaskExample Question(string answer, int occurrence = 0)
    {
        int at = -1;
        for (int i = 0; i <= occurrence; i++) at = LongContext.IndexOf(answer, at + 1, StringComparison.Ordinal);
        return new TaskExample(2, "what was there?", LongContext, null, answer, AnswerStart: at);
    }

    [Theory]
    [InlineData("bert", "light", 1)]
    [InlineData("bert", "the heaven and the earth", 0)]
    [InlineData("bert", "darkness", 0)]
    [InlineData("bert", "In the beginning", 0)]
    [InlineData("gpt", "light", 1)]
    [InlineData("gpt", "the earth", 0)]
    [InlineData("gpt", "darkness", 0)]
    [InlineData("gpt", "In the beginning", 0)]
    [InlineData("gpt", "God said, Let", 0)]
    public void WindowsCoverTheContextAndTheirOffsetsGiveBackTheExactAnswer(string family, string answer, int occurrence)
    {
        var framing = Framing(family);
        var example = Question(answer, occurrence);
        var (windows, _) = SpanEncoding.Encode(framing, example, 0, 24, 6, "t");
        Assert.True(windows.Count > 2);
        var covering = windows.Where(w => w.Window!.Start > 0).ToList();
        Assert.NotEmpty(covering);
        foreach (var w in covering)
        {
            var s = w.Window!;
            Assert.Equal(answer, LongContext[s.Offsets[s.Start].Start..s.Offsets[s.End].End]);
            Assert.Equal(example.AnswerStart, s.Offsets[s.Start].Start);
        }
        // Every context token is in some window, and windows step by the stride.
        var (all, offsets) = framing.EncodeWithOffsets(LongContext);
        var seen = windows.SelectMany(w => w.Window!.Offsets.Skip(w.Window.ContextFirst).Take(w.Window.ContextLength)).Distinct().ToList();
        Assert.Equal(all.Length, seen.Count);
        Assert.All(windows.Select((w, k) => (w.Window!, k)), x => Assert.Equal(offsets[x.k * 6], x.Item1.Offsets[x.Item1.ContextFirst]));
        Assert.All(windows, w => Assert.True(w.Sequences[0].Length <= 24));
        Assert.All(windows, w => Assert.Equal(framing.SegmentIds ? 1 : 0, w.TypeIds[0][w.Window!.ContextFirst]));
        Assert.All(windows, w => Assert.Equal((framing.Open, framing.Separator, framing.Close),
            (w.Sequences[0][0], w.Sequences[0][w.Window!.ContextFirst - 1], w.Sequences[0][^1])));
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("gpt")]
    public void DecoderMapsTheBestSpanBackToCharactersAcrossWindows(string family)
    {
        var example = Question("light", 1);
        var (windows, _) = SpanEncoding.Encode(Framing(family), example, 0, 24, 6, "t");
        // Logits that point at the gold span in the last window that holds it, and weakly at a 1-token span elsewhere.
        var target = windows.Last(w => w.Window!.Start > 0).Window!;
        var logits = windows.Select(w =>
        {
            int n = w.Sequences[0].Length;
            var s = new float[n]; var e = new float[n];
            s[w.Window!.ContextFirst] = 1; e[w.Window.ContextFirst] = 1;
            if (w.Window == target) { s[target.Start] = 5; e[target.End] = 5; }
            return (w.Window!, s, e);
        }).ToList();
        var best = SpanDecoder.NBest(LongContext, logits, new SpanOptions(6, 30, 5));
        Assert.Equal("light", best[0].Text);
        Assert.Equal(example.AnswerStart, best[0].Start);
        Assert.True(best.Count > 1 && best[0].Probability > best[1].Probability);
        Assert.Equal(1.0, best.Sum(a => a.Probability), 4);
        // With at most 1 token per answer, only one-token spans come back.
        Assert.All(SpanDecoder.NBest(LongContext, logits, new SpanOptions(6, 1, 5)), a => Assert.DoesNotContain(' ', a.Text));
    }

    [Fact]
    public void SquadNormalisationAndScores()
    {
        Assert.Equal("cat sat", SquadMetrics.Normalize("The  Cat, sat!"));
        Assert.True(SquadMetrics.ExactMatch("the cat sat.", "Cat sat"));
        Assert.Equal(0.5, SquadMetrics.F1("cat sat down", "cat"), 9);      // P 1/3, R 1
        Assert.Equal(0.0, SquadMetrics.F1("dog", "cat"));
    }

    static string Write(string name, string content)
    {
        string path = Path.Combine(Path.GetTempPath(), "ptm-tt-" + Guid.NewGuid().ToString("N")[..8] + name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void TaskFilesForTagAndSpanAndTheirErrors()
    {
        var tags = TaskFile.Read(Write(".jsonl", """{"tokens":["God","said"],"tags":["B-PER","O"]}""" + "\n" + """{"tokens":"Let there","tags":"O O"}""" + "\n"), FineTuneTask.Tag, new TaskColumns());
        Assert.Equal(["Let", "there"], tags.Examples[1].Words);
        Assert.Equal(["B-PER", "O"], LabelMap.FromTraining(tags).Labels);
        var mismatch = Assert.Throws<InvalidInputException>(() => TaskFile.Read(Write(".csv", "tokens,tags\nGod said,B-PER\n"), FineTuneTask.Tag, new TaskColumns()));
        Assert.Contains("2 words but 1 tags", mismatch.Message);

        var spans = TaskFile.Read(Write(".csv", "question,context,answer_start,label\nwho?,And God said,4,God\n"), FineTuneTask.Span, new TaskColumns());
        Assert.Equal(("God", 4), (spans.Examples[0].Label, spans.Examples[0].AnswerStart));
        var wrong = Assert.Throws<InvalidInputException>(() => TaskFile.Read(Write(".csv", "question,context,answer_start,answer\nwho?,And God said,0,God\n"), FineTuneTask.Span, new TaskColumns()));
        Assert.Contains("line 2: the answer \"God\" is not in the context at character 0 (found \"And\")", wrong.Message);
        var outside = Assert.Throws<InvalidInputException>(() => TaskFile.Read(Write(".csv", "question,context,answer_start,answer\nwho?,And God said,20,God\n"), FineTuneTask.Span, new TaskColumns()));
        Assert.Contains("lies outside its context", outside.Message);
    }

    static string HeadName(string family, FineTuneTask task) => (family, task) switch
    {
        ("bert", FineTuneTask.Tag) => "BertForTokenClassification",
        ("bert", _) => "BertForQuestionAnswering",
        (_, FineTuneTask.Tag) => "GPT2ForTokenClassification",
        _ => "GPT2ForQuestionAnswering",
    };

    [Theory]
    [InlineData("bert")]
    [InlineData("gpt")]
    public void CliFinetunesEvaluatesAndPredictsTagging(string family)
    {
        string dir = Path.Combine(models.Root, "tag-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        string data = Path.Combine(dir, "tags.jsonl");
        File.WriteAllLines(data, Enumerable.Range(0, 8).Select(i => i % 2 == 0
            ? """{"tokens":["And","God","said","Let","there","be","light"],"tags":["O","B-PER","O","O","O","O","B-THING"]}"""
            : """{"tokens":"In the beginning God created the heaven","tags":"O O O B-PER O B-THING I-THING"}"""));
        var r = CliHarness.Run("finetune", "--model", models.Dir(family), "--task", "tag", "--train", data, "--validation", data, "--out", Path.Combine(dir, "run"),
            "--epochs", "2", "--batch-size", "4", "--learning-rate", "0.003");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Contains(HeadName(family, FineTuneTask.Tag), r.Out);
        Assert.Matches(@"entity_f1 \d\.\d{4}", r.Out);
        if (family == "gpt") Assert.Matches(@"lm_loss \d+\.\d{4}", r.Out);
        var ev = CliHarness.Run("evaluate", "--model", Path.Combine(dir, "run"), "--file", data);
        Assert.True(ev.ExitCode == 0, ev.Err);
        Assert.Matches(@"entity P/R/F1 \d\.\d{4} / \d\.\d{4} / \d\.\d{4}", ev.Out);
        Assert.Contains("(56 words)", ev.Out);
        string preds = Path.Combine(dir, "p.jsonl");
        Assert.Equal(0, CliHarness.Run("predict", "--model", Path.Combine(dir, "run"), "--file", data, "--out", preds).ExitCode);
        Assert.All(File.ReadAllLines(preds), l => Assert.Contains("\"tags\":[", l));
    }

    [Theory]
    [InlineData("bert")]
    [InlineData("gpt")]
    public void CliFinetunesEvaluatesAndPredictsSpans(string family)
    {
        string dir = Path.Combine(models.Root, "span-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        string data = Path.Combine(dir, "qa.csv");
        File.WriteAllText(data, "question,context,answer_start,answer\n" + string.Concat(Enumerable.Range(0, 6).Select(i =>
        {
            string answer = i % 2 == 0 ? "light" : "darkness";
            int at = LongContext.IndexOf(answer, StringComparison.Ordinal);
            return $"what was there?,\"{LongContext}\",{at},{answer}\n";
        })));
        string run = Path.Combine(dir, "run");
        var r = CliHarness.Run("finetune", "--model", models.Dir(family), "--task", "span", "--train", data, "--validation", data, "--out", run,
            "--epochs", "1", "--batch-size", "8", "--learning-rate", "0.003", "--max-length", "32", "--doc-stride", "8");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Contains(HeadName(family, FineTuneTask.Span), r.Out);
        Assert.Contains("windows, stride 8", r.Out);
        Assert.Matches(@"exact_match \d\.\d{4}", r.Out);
        var ev = CliHarness.Run("evaluate", "--model", run, "--file", data);
        Assert.True(ev.ExitCode == 0, ev.Err);
        Assert.Matches(@"exact match   \d\.\d{4}", ev.Out);
        string preds = Path.Combine(dir, "p.jsonl");
        Assert.Equal(0, CliHarness.Run("predict", "--model", run, "--file", data, "--out", preds).ExitCode);
        foreach (var line in File.ReadAllLines(preds))
        {
            using var doc = System.Text.Json.JsonDocument.Parse(line);
            string answer = doc.RootElement.GetProperty("answer").GetString()!;
            int start = doc.RootElement.GetProperty("answer_start").GetInt32();
            Assert.NotEqual("", answer);
            Assert.Equal(LongContext.Substring(start, answer.Length), answer);   // predictions are real context offsets
            Assert.Equal(answer.Trim(), answer);
        }
        string bad = Path.Combine(dir, "bad.csv");
        File.WriteAllText(bad, "question,context,answer_start,answer\nwho?,And God said,0,light\n");
        CliHarness.AssertOneLineError(CliHarness.Run("finetune", "--model", models.Dir(family), "--task", "span", "--train", bad, "--out", Path.Combine(dir, "x")),
            "is not in the context at character 0");
    }

    [Theory]
    [InlineData("train")]
    [InlineData("validation")]
    [InlineData("test")]
    public void WordNetSenseFilesReadAndEveryAnswerIsAtItsOffset(string split)
    {
        string dir = Path.Combine(DataFixtures.FindRepoRoot(), "data", "tasks", "wordnet-senses");
        var pair = TaskFile.Read(Path.Combine(dir, $"pair-{split}.csv"), FineTuneTask.Pair, new TaskColumns());
        Assert.Equal(["no", "yes"], LabelMap.FromTraining(pair).Labels);
        var choice = TaskFile.Read(Path.Combine(dir, $"choice-{split}.jsonl"), FineTuneTask.Choice, new TaskColumns());
        Assert.All(choice.Examples, e => Assert.Contains("___", e.Text));
        // Reading a span file checks that every answer is exactly the context's text at answer_start.
        var span = TaskFile.Read(Path.Combine(dir, $"span-{split}.csv"), FineTuneTask.Span, new TaskColumns());
        Assert.Equal(split == "train" ? 2000 : 300, span.Count);
        // Next-verse pairs: balanced by construction.
        var verses = TaskFile.Read(Path.Combine(DataFixtures.FindRepoRoot(), "data", "tasks", "kjv-next-verse", $"{split}.csv"), FineTuneTask.Pair, new TaskColumns());
        Assert.Equal(split == "train" ? 2000 : 300, verses.Count);
        Assert.Equal(verses.Count / 2, verses.Examples.Count(e => e.Label == "yes"));
    }
}
