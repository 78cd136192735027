using System.Diagnostics;
using System.Text.Json;
using Ptm.Data;

namespace Ptm.Tests.Data;

public class BertPretrainingPreparerTests
{
    static readonly string[] Words = Enumerable.Range(0, 50).Select(i => "w" + i).ToArray();

    /// <summary>Form-feed separated documents of sentences "w.. w.. ." on their own lines, with blank lines mixed in.</summary>
    static Corpus SmallCorpus(TempDir dir, int documents = 12)
    {
        var rng = new SplitMix64(42);
        string Doc(int d) => string.Join("\n", Enumerable.Range(0, 3 + d % 7).Select(s =>
            (s % 3 == 2 ? "\n" : "") + string.Join(' ', Enumerable.Range(0, 3 + (int)rng.NextBelow(8)).Select(_ => Words[rng.NextBelow(50)]))));
        string train = dir.File("in/train.txt", string.Join("\n\f\n", Enumerable.Range(0, documents).Select(Doc)));
        string validation = dir.File("in/validation.txt", string.Join("\n\f\n", Enumerable.Range(0, 3).Select(Doc)));
        return Corpus.Load(new CorpusOptions(train, validation));
    }

    static MlmFakeVocabulary Vocab => new(MlmFakeVocabulary.FirstWord + Words.Length, wordList: Words);

    static BertDataOptions Options(ulong seed = 1) => new(MaxSeqLength: 32, DupeFactor: 3, Sentences: SentenceSplitting.Lines, Seed: seed);

    [Fact]
    public void WritesRecordsAManifestAndTheVocabularyAndReadsThemBack()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        var result = BertPretrainingPreparer.Prepare(Vocab, SmallCorpus(dir), Options(), new PrepareOptions(output));

        Assert.Equal(["fake-vocab.txt", "manifest.json", "train.bert.bin", "validation.bert.bin"],
            Directory.EnumerateFileSystemEntries(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        BertDataManifest m = result.Manifest;
        Assert.Equal("mlm-nsp", m.Objective);
        Assert.Equal("uint16", m.Dtype);
        Assert.Equal(6 + 32 * 2 + 20 * 4, m.RecordSize);
        BertSplitInfo train = m.Splits["train"];
        Assert.Equal(12, train.Documents);
        Assert.Equal(train.Instances, train.PairLabel0 + train.PairLabel1);
        Assert.Equal(train.Instances * m.RecordSize, new FileInfo(Path.Combine(output, "train.bert.bin")).Length);
        Assert.Equal(m.ToJson(), BertDataManifest.Load(output).ToJson());
        using (var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "manifest.json"))))
        {
            Assert.Equal("Static", json.RootElement.GetProperty("options").GetProperty("masking").GetString());
            Assert.Equal(0.15, json.RootElement.GetProperty("options").GetProperty("mlm").GetProperty("maskedLmProb").GetDouble());
        }

        using var data = BertPretrainingDataset.Open(output, "train");
        Assert.Equal(train.Instances, data.Count);
        long tokens = 0, masked = 0;
        for (long i = 0; i < data.Count; i++)
        {
            BertInstance x = data[i];
            tokens += x.Length;
            masked += x.Mask.Positions.Length;
            Assert.InRange(x.Length, 5, 32);
            Assert.Equal(MlmFakeVocabulary.Cls, x.Tokens[0]);
            Assert.Equal(MlmFakeVocabulary.Sep, x.Tokens[^1]);
            Assert.NotEmpty(x.Mask.Positions);
        }
        Assert.Equal(train.Tokens, tokens);
        Assert.Equal(train.MaskedPositions, masked);
    }

    [Fact]
    public void SameSeedWritesIdenticalFilesAndADifferentSeedDoesNot()
    {
        using var dir = new TempDir();
        Corpus corpus = SmallCorpus(dir);
        byte[] Train(string name, ulong seed)
        {
            BertPretrainingPreparer.Prepare(Vocab, corpus, Options(seed), new PrepareOptions(dir.Sub(name)));
            return File.ReadAllBytes(Path.Combine(dir.Sub(name), "train.bert.bin"));
        }
        byte[] first = Train("a", 1);
        Assert.Equal(first, Train("b", 1));
        Assert.NotEqual(first, Train("c", 2));
    }

    [Fact]
    public void BatchesArePaddedDeterministicAndCarryTheStoredMasks()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        BertPretrainingPreparer.Prepare(Vocab, SmallCorpus(dir), Options(), new PrepareOptions(output));
        using var data = BertPretrainingDataset.Open(output, "train");
        var batcher = new BertBatcher(data, batchSize: 8, seed: 3);

        BertBatch batch = batcher.GetBatch(5);
        Assert.Equal((8, 32), (batch.BatchSize, batch.SeqLen));
        Assert.Equal(batch.InputIds, batcher.GetBatch(5).InputIds);
        Assert.Equal(batch.MlmLabels, new BertBatcher(data, 8, 3).GetBatch(5).MlmLabels);
        Assert.NotEqual(batch.InputIds, batcher.GetBatch(6).InputIds);
        Assert.NotEqual(batch.InputIds, new BertBatcher(data, 8, 4).GetBatch(5).InputIds);

        long[] rows = batcher.InstanceIndices(5);
        for (int b = 0; b < 8; b++)
        {
            BertInstance x = data[rows[b]];
            var expectedIds = new long[32];
            var expectedLabels = new long[32];
            MlmMasker.Apply(x.Tokens, x.Mask, expectedIds, expectedLabels);
            for (int t = 0; t < 32; t++)
            {
                int at = b * 32 + t;
                bool real = t < x.Length;
                Assert.Equal(real ? expectedIds[t] : MlmFakeVocabulary.Pad, batch.InputIds[at]);
                Assert.Equal(real ? expectedLabels[t] : MlmMasker.IgnoreLabel, batch.MlmLabels[at]);
                Assert.Equal(real ? 1 : 0, batch.AttentionMask[at]);
                Assert.Equal(real ? x.TokenType(t) : 0, batch.TokenTypeIds[at]);
            }
            Assert.Equal(x.PairLabel, batch.NspLabels[b]);
        }
        Assert.Equal(data.Count, batcher.Sequential().Sum(b => (long)b.BatchSize));
    }

    [Fact]
    public void DynamicMaskingStoresNoMasksAndMasksInTheBatcher()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        var options = Options() with { Masking = MaskingMode.Dynamic, Task = PairTask.None };
        var result = BertPretrainingPreparer.Prepare(Vocab, SmallCorpus(dir), options, new PrepareOptions(output));
        Assert.Equal("mlm", result.Manifest.Objective);
        Assert.Equal(0, result.Manifest.MaskSlots);
        Assert.Equal(0, result.Manifest.Splits["train"].PairLabel0 + result.Manifest.Splits["train"].PairLabel1);

        using var data = BertPretrainingDataset.Open(output, "train");
        Assert.Throws<InvalidInputException>(() => new BertBatcher(data, 4, 1));
        var masker = new MlmMasker(Vocab, options.Mlm);
        var batcher = new BertBatcher(data, 4, 1, masker);
        BertBatch batch = batcher.GetBatch(0);
        Assert.Equal(batch.MlmLabels, new BertBatcher(data, 4, 1, masker).GetBatch(0).MlmLabels);
        Assert.Contains(batch.MlmLabels, l => l != MlmMasker.IgnoreLabel);
        Assert.All(batch.NspLabels, l => Assert.Equal(MlmMasker.IgnoreLabel, l));
        Assert.All(batch.TokenTypeIds, t => Assert.Equal(0, t));
        // The same instance at another step gets another mask.
        var masksOfRow0 = Enumerable.Range(0, 20).Select(s => (Row: batcher.InstanceIndices(s)[0], Labels: string.Join(',', batcher.GetBatch(s).MlmLabels.Take(32))));
        Assert.Contains(masksOfRow0.GroupBy(m => m.Row), g => g.Select(m => m.Labels).Distinct().Count() > 1);
    }

    [Fact]
    public void OneDocumentCorpusIsAClearErrorAndWritesNothing()
    {
        using var dir = new TempDir();
        // One line: no paragraphs and no runs of lines to cut it into, so NSP has no second document.
        string one = dir.File("in/one.txt", "w1 w2 w3 w4\n");
        var corpus = Corpus.Load(new CorpusOptions(one, one));
        var e = Assert.Throws<InvalidInputException>(() =>
            BertPretrainingPreparer.Prepare(Vocab, corpus, Options(), new PrepareOptions(dir.Sub("out"))));
        Assert.StartsWith("train split: BertDataOptions.Task NSP needs at least 2 non-empty documents", e.Message);
        Assert.Contains("PairTask.None", e.Message);
        Assert.False(Directory.Exists(dir.Sub("out")));
    }

    [Fact]
    public void PreparesTheKjvWithAWordLevelVocabulary()
    {
        string kjv = Path.Combine(DataFixtures.FindRepoRoot(), "data", "kjv");
        var corpus = Corpus.Load(CorpusTokenizer.Options(kjv, null, 0.1, 0));
        var vocab = MlmFakeVocabulary.FromTexts(corpus.Train.Concat(corpus.Validation).Select(d => d.Text));
        using var dir = new TempDir();
        var clock = Stopwatch.StartNew();
        var result = BertPretrainingPreparer.Prepare(vocab, corpus, new BertDataOptions(DupeFactor: 1, Sentences: SentenceSplitting.Lines),
            new PrepareOptions(dir.Sub("out")));
        BertSplitInfo train = result.Manifest.Splits["train"], validation = result.Manifest.Splits["validation"];
        Assert.Equal(57, train.Documents);
        Assert.Equal(9, validation.Documents);
        Assert.Equal(28078 + 57, train.Sentences); // a verse per line, plus each book's title line
        Assert.InRange(train.Instances, 5000, 20000);
        Assert.InRange(train.PairLabel1 / (double)train.Instances, 0.45, 0.58);
        Console.WriteLine($"KJV: train {train.Instances} instances ({train.PairLabel1} random next), validation {validation.Instances}, vocab {vocab.VocabSize}, {clock.Elapsed.TotalSeconds:F1} s");
        using var data = BertPretrainingDataset.Open(dir.Sub("out"), "train");
        BertBatch batch = new BertBatcher(data, 16, 0).GetBatch(0);
        Assert.Equal(16 * 128, batch.InputIds.Length);
    }
}
