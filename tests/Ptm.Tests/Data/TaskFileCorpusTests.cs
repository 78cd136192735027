using Ptm.Data;
using Ptm.Modeling;
using Ptm.Training;

namespace Ptm.Tests.Data;

/// <summary>A task file's columns as monolingual pre-training text: each column one block of lines, never a source
/// beside its target, down to the sequences the denoising data packs.</summary>
public sealed class TaskFileCorpusTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-taskcorpus-" + Guid.NewGuid().ToString("N"));

    public TaskFileCorpusTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
    }

    string Write(string name, string text)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    // An extra column that must not be read, a quoted comma, a field with a line break, a blank target.
    const string TrainCsv = "entry,source,target\n"
        + "1,Ich bin hier.,I am here.\n"
        + "2,\"Wir gehen, heute.\",\"We go,\ntoday.\"\n"
        + "3,Das ist gut.,\n"
        + "4,Er schläft.,He sleeps.\n";

    static readonly string[] TrainGerman = ["Ich bin hier.", "Wir gehen, heute.", "Das ist gut.", "Er schläft."];
    static readonly string[] TrainEnglish = ["I am here.", "We go, today.", "He sleeps."];

    /// <summary>The documents are exactly the columns' lines, German block first, and the validation file gives its own.</summary>
    [Fact]
    public void EachColumnIsOneDocumentOfItsLinesInFileOrder()
    {
        string train = Write("train.csv", TrainCsv);
        string validation = Write("validation.jsonl", "{\"source\": \"Guten Tag.\", \"target\": \"Good day.\"}\n{\"source\": \"Danke.\", \"target\": \"Thanks.\"}\n");
        var corpus = PretrainingCorpus.FromTaskFile(train, validation).Load();
        Assert.Equal(new[] { string.Join("\n", TrainGerman) + "\n", string.Join("\n", TrainEnglish) + "\n" }, corpus.Train.Select(d => d.Text));
        Assert.Equal(new[] { "Guten Tag.\nDanke.\n", "Good day.\nThanks.\n" }, corpus.Validation.Select(d => d.Text));
        Assert.All(corpus.Train, d => Assert.Equal(train, d.Path));

        // Other columns, in the order given.
        var documents = TaskFileCorpus.Documents(train, ["target", "entry"]);
        Assert.Equal(new[] { string.Join("\n", TrainEnglish) + "\n", "1\n2\n3\n4\n" }, documents.Select(d => d.Text));
    }

    /// <summary>The denoising sequences hold exactly the expected lines, tokenized as packing does, and a German line
    /// never shares a sequence with an English one although the budget would fit all of them in one.</summary>
    [Fact]
    public void DenoisingSequencesKeepTheColumnsApart()
    {
        string train = Write("train.csv", TrainCsv);
        string validation = Write("validation.tsv", "source\ttarget\nGuten Tag.\tGood day.\nDanke.\tThanks.\n");
        var corpus = PretrainingCorpus.FromTaskFile(train, validation).Load();
        string prepared = Path.Combine(dir, "prepared");
        DenoisingData.Prepare(corpus, vocabSize: 300, maxSeqLength: 200, SentenceSplitting.Lines, prepared);
        var data = DenoisingData.Load(prepared);
        var tokenizer = data.Tokenizer;
        int[][] Expected(string[] lines) => lines.Select((l, i) => tokenizer.Encode(i == 0 ? l : " " + l)).ToArray();
        int total = TrainGerman.Concat(TrainEnglish).Sum(l => tokenizer.Encode(" " + l).Length);
        Assert.True(total <= 198, $"the budget must fit every line in one sequence for this test to mean anything ({total} tokens)");

        Assert.Equal(2, data.Train.Length);
        Assert.Equal(Expected(TrainGerman), data.Train[0]);
        Assert.Equal(Expected(TrainEnglish), data.Train[1]);
        Assert.Equal(TrainGerman, data.Train[0].Select(s => tokenizer.Decode(s).Trim()));
        Assert.Equal(TrainEnglish, data.Train[1].Select(s => tokenizer.Decode(s).Trim()));
        Assert.Equal(new[] { Expected(["Guten Tag.", "Danke."]), Expected(["Good day.", "Thanks."]) }, data.Validation);
    }

    /// <summary>Without a validation file whole examples are held out: both columns of the same examples, the same
    /// ones for the same seed, the rest in file order for training.</summary>
    [Fact]
    public void WithoutAValidationFileWholeExamplesAreHeldOut()
    {
        string train = Write("train.csv", "source,target\n" + string.Concat(Enumerable.Range(0, 10).Select(i => $"de {i},en {i}\n")));
        var corpus = (PretrainingCorpus.FromTaskFile(train) with { ValidationFraction = 0.3, Seed = 7 }).Load();
        int[] Numbers(TextDocument d, string prefix) => d.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => { Assert.StartsWith(prefix, l); return int.Parse(l[prefix.Length..]); }).ToArray();
        int[] held = Numbers(corpus.Validation[0], "de ");
        Assert.Equal(3, held.Length);
        Assert.Equal(held, Numbers(corpus.Validation[1], "en "));
        int[] kept = Numbers(corpus.Train[0], "de ");
        Assert.Equal(kept, Numbers(corpus.Train[1], "en "));
        Assert.Equal(Enumerable.Range(0, 10).Except(held), kept);
        Assert.Equal(held.Order(), held);
        var again = (PretrainingCorpus.FromTaskFile(train) with { ValidationFraction = 0.3, Seed = 7 }).Load();
        Assert.Equal(corpus.Validation.Select(d => d.Text), again.Validation.Select(d => d.Text));
    }

    [Fact]
    public void BadTaskFilesAreOneLineErrorsNamingTheFileAndField()
    {
        string good = Write("good.csv", "source,target\na,b\nc,d\n");
        string Error(PretrainingCorpus c)
        {
            var e = Assert.ThrowsAny<InvalidInputException>(() => c.Load());
            Assert.DoesNotContain('\n', e.Message);
            Assert.DoesNotContain("--", e.Message);
            return e.Message;
        }

        string noTarget = Write("no-target.csv", "source,translation\na,b\n");
        Assert.Equal($"{noTarget}: unknown column 'target' (the file has: source, translation)", Error(PretrainingCorpus.FromTaskFile(noTarget, good)));
        Assert.Equal($"{noTarget}: unknown column 'target' (the file has: source, translation)", Error(PretrainingCorpus.FromTaskFile(good, noTarget)));
        string empty = Write("empty.csv", "");
        Assert.StartsWith($"{empty}: the file is empty", Error(PretrainingCorpus.FromTaskFile(empty, good)));
        string header = Write("header.jsonl", "\n");
        Assert.Equal($"{header}: the file has no examples", Error(PretrainingCorpus.FromTaskFile(good, header)));
        string blank = Write("blank.csv", "source,target\na,\nc, \n");
        Assert.Equal($"{blank}: column 'target' has no text", Error(PretrainingCorpus.FromTaskFile(blank, good)));
        string missingField = Write("field.jsonl", "{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"c\"}\n");
        Assert.Equal($"{missingField}, line 2: field 'target' is missing or not a text", Error(PretrainingCorpus.FromTaskFile(good, missingField)));
        string one = Write("one.csv", "source,target\na,b\n");
        Assert.Contains($"{one}: 1 example, need at least 2", Error(PretrainingCorpus.FromTaskFile(one)));
        Assert.Equal($"{Path.Combine(dir, "none.csv")}: no such file", Error(PretrainingCorpus.FromTaskFile(Path.Combine(dir, "none.csv"), good)));
        Assert.StartsWith("PretrainingCorpus.TaskColumns must name one or more distinct columns", Error(PretrainingCorpus.FromTaskFile(good, good, ["source", "source"])));
    }

    /// <summary>A bad task file fails before anything is written: no run folder, no staging folder beside it.</summary>
    [Fact]
    public void ABadTaskFileLeavesNoRunFolder()
    {
        string good = Write("good.csv", "source,target\na,b\nc,d\n");
        string bad = Write("bad.csv", "source,ziel\na,b\n");
        string runDir = Path.Combine(dir, "run");
        var options = new BartPretrainingOptions
        {
            Model = new BartConfig { DModel = 16, EncoderLayers = 1, DecoderLayers = 1, EncoderAttentionHeads = 2, DecoderAttentionHeads = 2, EncoderFfnDim = 32, DecoderFfnDim = 32, MaxPositionEmbeddings = 32 },
            Tokenizer = new TokenizerSpec { Kind = "bpe", VocabSize = 300 },
            Data = new BartDataSpec { MaxSeqLength = 24 },
            Training = new TrainingConfig { MaxSteps = 6, BatchSize = 4, WarmupSteps = 2, EvalInterval = 3, EvalIters = 1, LogInterval = 1, CheckpointInterval = 3 },
        };
        var e = Assert.ThrowsAny<InvalidInputException>(() => Pretraining.Bart(PretrainingCorpus.FromTaskFile(good, bad), options, new RunFolder(runDir)));
        Assert.Equal($"{bad}: unknown column 'target' (the file has: source, ziel)", e.Message);
        Assert.Equal(new[] { bad, good }, Directory.GetFileSystemEntries(dir).Order());
    }

    /// <summary>A prepared folder carries its own validation split; separate validation text beside it is refused
    /// instead of reading the folder's files as text.</summary>
    [Fact]
    public void APreparedFolderWithSeparateValidationTextIsRefused()
    {
        string folder = Path.Combine(dir, "prepared");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, DataManifest.FileName), "{\"objective\": \"denoising\"}");
        var e = Assert.ThrowsAny<InvalidInputException>(() => PretrainingCorpus.FromPath(folder, Write("v.txt", "text\n")).Load());
        Assert.StartsWith($"{folder}: a prepared folder (manifest.json) carries its own validation split", e.Message);
    }
}
