using System.Text.Json;
using Ptm.Evaluation;
using Ptm.FineTuning;
using Ptm.Tests.Cli;

namespace Ptm.Tests.Evaluation;

public class Seq2SeqBaselineTests
{
    static Seq2SeqExample P(string source, string target) => new(0, source, target);

    [Fact]
    public void IbmModelOneLearnsTheDictionaryOfTheClassicToyCorpus()
    {
        // Brown et al.'s textbook case: "das" co-occurs with "the" twice, "buch" with "book" twice; EM resolves the rest.
        var translator = WordByWordTranslator.Train([P("das Haus", "the house"), P("das Buch", "the book"), P("ein Buch", "a book")]);
        Assert.Equal(4, translator.Entries);
        Assert.Equal("the", translator.Lookup("das"));
        Assert.Equal("house", translator.Lookup("haus"));
        Assert.Equal("book", translator.Lookup("buch"));
        Assert.Equal("a", translator.Lookup("ein"));
        // Unknown words are copied; punctuation attaches; the capital follows the source's.
        Assert.Equal("The book ist (neu).", translator.Translate("Das Buch ist (neu)."));
        Assert.Equal("a house", translator.Translate("ein Haus"));
    }

    [Fact]
    public void CopyScoresOneHundredWhereSourceEqualsTarget()
    {
        Seq2SeqExample[] pairs = [P("Guten Tag, Herr Müller.", "Guten Tag, Herr Müller."), P("Die Katze schläft auf dem Sofa.", "Die Katze schläft auf dem Sofa.")];
        var score = Seq2SeqScore.Of(Seq2SeqBaselines.Copy(pairs), pairs);
        Assert.Equal(100, score.Bleu.Score, 1e-9);
        Assert.Equal(100, score.ChrF, 1e-9);
    }

    [Fact]
    public void CliPrintsAndWritesTheLibrarysScores()
    {
        using var dir = new TempDir();
        string train = dir.File("train.csv", "source,target\ndas Haus ist klein.,the house is small.\ndas Buch ist klein.,the book is small.\nein Buch ist alt.,a book is old.\n");
        string test = dir.File("test.csv", "source,target\nDas Haus ist alt.,The house is old.\n\"Ein Buch, das Haus.\",\"A book, the house.\"\n");
        string json = dir.Sub("metrics.json");
        var r = CliHarness.Run("baseline", "--task", "seq2seq", "--train", train, "--test", test, "--out", json);
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        var testPairs = TaskFile.ReadSeq2Seq(test);
        var translator = WordByWordTranslator.Train(TaskFile.ReadSeq2Seq(train));
        var copy = Seq2SeqScore.Of(Seq2SeqBaselines.Copy(testPairs), testPairs);
        var words = Seq2SeqScore.Of(translator.Translate(testPairs), testPairs);
        Assert.True(words.ChrF > copy.ChrF, $"{words.ChrF} vs {copy.ChrF}");
        Assert.Contains($"test       copy          bleu {copy.Bleu.Score:F2}  chrf {copy.ChrF:F2}", r.Out);
        Assert.Contains($"           word-by-word  bleu {words.Bleu.Score:F2}  chrf {words.ChrF:F2}", r.Out);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(words.Bleu.Score, doc.RootElement.GetProperty("test").GetProperty("word_by_word").GetProperty("bleu").GetDouble(), 1e-9);
        Assert.Equal(copy.ChrF, doc.RootElement.GetProperty("test").GetProperty("copy").GetProperty("chrf").GetDouble(), 1e-9);
    }

    [Fact]
    public void CliNeedsAFileToScore()
    {
        using var dir = new TempDir();
        string train = dir.File("train.csv", "source,target\na,b\n");
        var r = CliHarness.Run("baseline", "--task", "seq2seq", "--train", train);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--validation and/or --test", r.Err);
    }

    [Fact]
    public void ShippedTranslationSplitsShareNoEntryAndNoSentence()
    {
        string folder = Path.Combine(Ptm.Tests.Data.DataFixtures.FindRepoRoot(), "data", "tasks", "de-en");
        var entries = new Dictionary<string, HashSet<string>>();
        var sources = new Dictionary<string, HashSet<string>>();
        foreach (string split in new[] { "train", "validation", "test" })
        {
            string path = Path.Combine(folder, $"{split}.csv");
            var pairs = TaskFile.ReadSeq2Seq(path);
            Assert.Equal(split switch { "train" => 16437, "validation" => 916, _ => 923 }, pairs.Count);
            Assert.All(pairs, p => Assert.True(p.Source.Split(' ').Length >= 4 && p.Source[^1] is '.' or '?' or '!' && p.Target!.Length > 0, p.Source));
            sources[split] = pairs.Select(p => p.Source).ToHashSet();
            entries[split] = File.ReadLines(path).Skip(1).Select(l => l[..l.IndexOf(',')]).ToHashSet();
        }
        foreach (var (a, b) in new[] { ("train", "validation"), ("train", "test"), ("validation", "test") })
        {
            Assert.Empty(entries[a].Intersect(entries[b]));
            Assert.Empty(sources[a].Intersect(sources[b]));
        }
    }
}
