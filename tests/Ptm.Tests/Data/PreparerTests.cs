using System.Text.Json;
using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Tests.Data;

public class PreparerTests
{
    // ids: '\n' = 0, 'a' = 1, 'b' = 2
    static readonly CharTokenizer Abc = new(["\n", "a", "b"]);

    static CorpusOptions TinyCorpus(TempDir dir)
    {
        string train = dir.File("in/train.txt", "ba\n\n\f\nab");
        string validation = dir.File("in/validation.txt", "a");
        return new CorpusOptions(train, validation);
    }

    [Fact]
    public void CharTokenizerConcatenatesDocumentsIntoExactUInt16Bytes()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        var result = Preparer.Prepare(Abc, TinyCorpus(dir), new PrepareOptions(output));

        Assert.Equal(new byte[] { 2, 0, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0 }, File.ReadAllBytes(Path.Combine(output, "train.bin")));
        Assert.Equal(new byte[] { 1, 0, 0, 0 }, File.ReadAllBytes(Path.Combine(output, "validation.bin")));
        Assert.Equal(new SplitInfo("train.bin", 6, 6, 2), result.Manifest.Splits["train"]);
        Assert.Equal(new SplitInfo("validation.bin", 2, 2, 1), result.Manifest.Splits["validation"]);
        Assert.Equal("uint16", result.Manifest.Dtype);
    }

    [Fact]
    public void EndOfTextIdGoesBetweenDocumentsOnly()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        var result = Preparer.Prepare(new EotCharTokenizer(Abc), TinyCorpus(dir), new PrepareOptions(output));

        using var train = TokenDataset.Open(output, "train");
        Assert.Equal([2, 1, 0, 3, 1, 2, 0], train.Read(0, (int)train.Length));
        Assert.Equal(7, result.Manifest.Splits["train"].Tokens);
        Assert.Equal(6, result.Manifest.Splits["train"].SourceBytes); // separators are not source text
        Assert.Equal(3, result.Manifest.Tokenizer.EndOfTextId);
    }

    [Fact]
    public void LargeVocabularyIsWrittenAsInt32()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        var result = Preparer.Prepare(new WideTokenizer(), TinyCorpus(dir), new PrepareOptions(output));

        Assert.Equal("int32", result.Manifest.Dtype);
        byte[] expected = "a\n".SelectMany(c => BitConverter.GetBytes(WideTokenizer.Offset + c)).ToArray();
        Assert.Equal(expected, File.ReadAllBytes(Path.Combine(output, "validation.bin")));
        Assert.Equal(24, new FileInfo(Path.Combine(output, "train.bin")).Length);
    }

    [Theory]
    [InlineData(2, "uint16")]
    [InlineData(65536, "uint16")]
    [InlineData(65537, "int32")]
    [InlineData(200_000, "int32")]
    public void DtypeIsTheNarrowestThatHoldsEveryId(int vocabSize, string dtype) =>
        Assert.Equal(dtype, DataManifest.DtypeFor(vocabSize));

    [Fact]
    public void ManifestRecordsCountsSourcesAndTokenizer()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        var corpus = TinyCorpus(dir);
        Preparer.Prepare(Abc, corpus, new PrepareOptions(output));

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "manifest.json")));
        JsonElement root = json.RootElement;
        Assert.Equal(1, root.GetProperty("formatVersion").GetInt32());
        Assert.Equal("uint16", root.GetProperty("dtype").GetString());
        JsonElement tokenizer = root.GetProperty("tokenizer");
        Assert.Equal("char", tokenizer.GetProperty("kind").GetString());
        Assert.Equal(3, tokenizer.GetProperty("vocabSize").GetInt32());
        Assert.Equal(JsonValueKind.Null, tokenizer.GetProperty("endOfTextId").ValueKind);
        Assert.Equal([CharTokenizer.FileName], tokenizer.GetProperty("files").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(corpus.TrainSpec, root.GetProperty("source").GetProperty("train").GetString());
        Assert.Equal(corpus.ValidationSpec, root.GetProperty("source").GetProperty("validation").GetString());
        JsonElement train = root.GetProperty("splits").GetProperty("train");
        Assert.Equal("train.bin", train.GetProperty("file").GetString());
        Assert.Equal(6, train.GetProperty("tokens").GetInt64());
        Assert.Equal(6, train.GetProperty("sourceBytes").GetInt64());
        Assert.Equal(2, train.GetProperty("documents").GetInt32());
        Assert.Equal(2, root.GetProperty("splits").GetProperty("validation").GetProperty("tokens").GetInt64());

        // The saved tokenizer is the one used.
        Assert.Equal(Abc.Symbols, CharTokenizer.Load(output).Symbols);
        Assert.Equal(DataManifest.Load(output).ToJson(), File.ReadAllText(Path.Combine(output, "manifest.json")));
    }

    [Fact]
    public void SourceBytesCountUtf8BytesNotCharacters()
    {
        using var dir = new TempDir();
        string train = dir.File("t.txt", "é€𝄞");
        var tok = CharTokenizer.Train("é€𝄞\n");
        var result = Preparer.Prepare(tok, new CorpusOptions(train, train), new PrepareOptions(dir.Sub("out")));
        Assert.Equal(2 + 3 + 4 + 1, result.Manifest.Splits["train"].SourceBytes);
        Assert.Equal(4, result.Manifest.Splits["train"].Tokens);
    }

    [Fact]
    public void RefusesToOverwriteANonEmptyFolderUnlessForced()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        dir.File("out/keep.txt", "mine");
        var e = Assert.Throws<InvalidInputException>(() => Preparer.Prepare(Abc, TinyCorpus(dir), new PrepareOptions(output)));
        Assert.Contains(output, e.Message);
        Assert.False(File.Exists(Path.Combine(output, "train.bin")));

        Preparer.Prepare(Abc, TinyCorpus(dir), new PrepareOptions(output, Force: true));
        Preparer.Prepare(Abc, TinyCorpus(dir), new PrepareOptions(output, Force: true)); // and again over our own files
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep.txt")));
        using var train = TokenDataset.Open(output, "train");
        Assert.Equal(6, train.Length);
    }

    [Fact]
    public void EmptyExistingFolderIsFine()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        Directory.CreateDirectory(output);
        Preparer.Prepare(Abc, TinyCorpus(dir), new PrepareOptions(output));
        Assert.True(File.Exists(Path.Combine(output, "manifest.json")));
    }

    [Fact]
    public void LeavesExactlyItsFilesAndNoTemporaries()
    {
        using var dir = new TempDir();
        string output = dir.Sub("out");
        Preparer.Prepare(Abc, TinyCorpus(dir), new PrepareOptions(output));
        Assert.Equal(
            [CharTokenizer.FileName, "manifest.json", "train.bin", "validation.bin"],
            Directory.EnumerateFileSystemEntries(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void CharacterOutsideTheVocabularyNamesTheDocument()
    {
        using var dir = new TempDir();
        string train = dir.File("t.txt", "abc");
        var e = Assert.Throws<InvalidInputException>(() => Preparer.Prepare(Abc, new CorpusOptions(train, train), new PrepareOptions(dir.Sub("out"))));
        Assert.StartsWith($"{train}: document 0:", e.Message);
        Assert.False(File.Exists(Path.Combine(dir.Sub("out"), "manifest.json")));
    }

    [Fact]
    public void SingleSourceHoldsOutWholeDocumentsBySeed()
    {
        using var dir = new TempDir();
        string all = dir.File("all.txt", string.Join("\n\f\n", Enumerable.Range(0, 10).Select(i => new string('a', i + 1))));
        Corpus Split(ulong seed) => Corpus.Load(new CorpusOptions(all, ValidationFraction: 0.2, Seed: seed));

        Corpus first = Split(7);
        Assert.Equal(8, first.Train.Count);
        Assert.Equal(2, first.Validation.Count);
        Assert.Equal(Enumerable.Range(0, 10), first.Train.Concat(first.Validation).Select(d => d.Index).Order());
        Assert.True(first.Train.Select(d => d.Index).SequenceEqual(first.Train.Select(d => d.Index).Order()), "corpus order kept");
        Assert.Equal(first.Validation, Split(7).Validation);
        Assert.Contains(Enumerable.Range(8, 20), s => !Split((ulong)s).Validation.SequenceEqual(first.Validation));

        var result = Preparer.Prepare(Abc, first, new PrepareOptions(dir.Sub("out")));
        Assert.Equal(0.2, result.Manifest.Source.ValidationFraction);
        Assert.Equal(7UL, result.Manifest.Source.Seed);
        Assert.Null(result.Manifest.Source.Validation);
        Assert.Equal(2, result.Manifest.Splits["validation"].Documents);
    }

    [Fact]
    public void SingleDocumentCannotBeSplit()
    {
        using var dir = new TempDir();
        string one = dir.File("one.txt", "ab");
        var e = Assert.Throws<InvalidInputException>(() => Corpus.Load(new CorpusOptions(one)));
        Assert.Contains(one, e.Message);
        Assert.Equal("ValidationFraction", Assert.Throws<InvalidOptionException>(() => Corpus.Load(new CorpusOptions(one, ValidationFraction: 1.0))).Property);
    }
}
