using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

public class TokenizerFilesTests
{
    const string TinyVocabHeader = "#version: 0.2\n";

    /// <summary>A valid tiny vocabulary: the 256 bytes plus "ab", written with the given merges text.</summary>
    static void WriteTiny(TempDir dir, string vocabName, string mergesName, string? merges = null, string? extraVocab = null)
    {
        var trained = ByteLevelBpeTokenizer.Train(new[] { "ab ab" }, 257, Array.Empty<string>());
        trained.Save(dir.Path);
        if (vocabName != "vocab.json") File.Move(dir.Sub("vocab.json"), dir.Sub(vocabName));
        if (mergesName != "merges.txt") File.Move(dir.Sub("merges.txt"), dir.Sub(mergesName));
        if (merges is not null) dir.File(mergesName, merges);
        if (extraVocab is not null) dir.File(vocabName, extraVocab);
    }

    [Fact]
    public void Load_CharVocabulary_GivesCharTokenizer()
    {
        using var dir = new TempDir();
        CharTokenizer.Train("hello").Save(dir.Path);
        var t = TokenizerFiles.Load(dir.Path);
        Assert.IsType<CharTokenizer>(t);
        Assert.Equal("hello", t.Decode(t.Encode("hello")));
    }

    [Fact]
    public void Load_MalformedCharVocabulary_ThrowsInvalidInput()
    {
        using var dir = new TempDir();
        dir.File("char_vocab.json", "{\"a\": 1}");
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains("char_vocab.json", e.Message);
    }

    [Fact]
    public void Load_HuggingFaceLayout_GivesBpe()
    {
        using var dir = new TempDir();
        WriteTiny(dir, "vocab.json", "merges.txt");
        var t = Assert.IsType<ByteLevelBpeTokenizer>(TokenizerFiles.Load(dir.Path));
        Assert.Equal(new[] { 256, 256 }, t.Encode("abab"));
    }

    [Fact]
    public void Load_OpenAiLayout_GivesBpe()
    {
        var t = Assert.IsType<ByteLevelBpeTokenizer>(TokenizerFiles.Load(Gpt2Files.Directory));
        Assert.Equal(new[] { 15496, 995 }, t.Encode("Hello world"));
    }

    [Fact]
    public void Load_EmptyDirectory_NamesTheExpectedFiles()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains("char_vocab.json", e.Message);
        Assert.Contains("merges.txt", e.Message);
        Assert.Contains("vocab.bpe", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Load_MissingDirectory_Throws()
    {
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load("/nonexistent/ptm-tokenizer"));
        Assert.Contains("/nonexistent/ptm-tokenizer", e.Message);
    }

    [Fact]
    public void Load_VocabWithoutMerges_SaysWhichFileIsMissing()
    {
        using var dir = new TempDir();
        WriteTiny(dir, "vocab.json", "merges.txt");
        File.Delete(dir.Sub("merges.txt"));
        File.Delete(dir.Sub("tokenizer.json"));   // with it, the folder is complete (see Load_HalfAPairWithABpeTokenizerJson)
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains("merges.txt", e.Message);
    }

    [Theory]
    [InlineData("{not json", "vocab.json")]
    [InlineData("[\"a\", \"b\"]", "vocab.json")]
    [InlineData("{\"a\": \"zero\"}", "vocab.json")]
    [InlineData("{\"a\": 0, \"b\": 5}", "vocab.json")]
    [InlineData("{\"a\": 0, \"b\": 0}", "vocab.json")]
    [InlineData("{\"a\": 0}", "vocab.json")]   // no tokens for the other 255 bytes
    public void Load_MalformedVocabulary_NamesTheFile(string vocab, string expectedFile)
    {
        using var dir = new TempDir();
        WriteTiny(dir, "vocab.json", "merges.txt", extraVocab: vocab);
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains(expectedFile, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData(TinyVocabHeader + "a b\nab\n", "line 3")]            // one part
    [InlineData(TinyVocabHeader + "a b c\n", "line 2")]             // three parts
    [InlineData(TinyVocabHeader + "a b\nb a\n", "line 3")]          // "ba" is not in the vocabulary
    [InlineData(TinyVocabHeader + "a zz\n", "line 2")]              // "zz" is not in the vocabulary
    public void Load_MalformedMerges_NamesFileAndLine(string merges, string expectedLine)
    {
        using var dir = new TempDir();
        WriteTiny(dir, "encoder.json", "vocab.bpe", merges: merges);
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains("vocab.bpe", e.Message);
        Assert.Contains(expectedLine, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Load_MergesWithWindowsLineEndings_AreAccepted()
    {
        using var dir = new TempDir();
        WriteTiny(dir, "vocab.json", "merges.txt", merges: "#version: 0.2\r\na b\r\n");
        var t = (ByteLevelBpeTokenizer)TokenizerFiles.Load(dir.Path);
        Assert.Equal(new[] { ("a", "b") }, t.Merges);
    }

    [Fact]
    public void Load_OnlyABpeTokenizerJson_GivesBpe()
    {
        using var dir = new TempDir();
        WriteTiny(dir, "vocab.json", "merges.txt");
        Assert.True(File.Exists(dir.Sub("tokenizer.json")));   // Save writes it alongside the pair
        File.Delete(dir.Sub("vocab.json"));
        File.Delete(dir.Sub("merges.txt"));
        var t = Assert.IsType<ByteLevelBpeTokenizer>(TokenizerFiles.Load(dir.Path));
        Assert.Equal(new[] { 256, 256 }, t.Encode("abab"));
        Assert.Equal(new[] { 256, 256 }, ByteLevelBpeTokenizer.Load(dir.Path).Encode("abab"));
    }

    [Fact]
    public void Load_HalfAPairWithABpeTokenizerJson_UsesTheJson()
    {
        using var dir = new TempDir();
        WriteTiny(dir, "vocab.json", "merges.txt");
        File.Delete(dir.Sub("merges.txt"));
        var t = Assert.IsType<ByteLevelBpeTokenizer>(TokenizerFiles.Load(dir.Path));
        Assert.Equal(new[] { 256, 256 }, t.Encode("abab"));
    }

    [Fact]
    public void Load_PairAndTokenizerJson_PrefersThePair()
    {
        using var dir = new TempDir();
        WriteTiny(dir, "vocab.json", "merges.txt");
        dir.File("tokenizer.json", "not json");   // never read while the pair is there
        Assert.IsType<ByteLevelBpeTokenizer>(TokenizerFiles.Load(dir.Path));
    }

    [Fact]
    public void Load_MalformedBpeTokenizerJson_NamesTheFileAndField()
    {
        using var dir = new TempDir();
        dir.File("tokenizer.json", """{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false}}""");
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains(dir.Sub("tokenizer.json"), e.Message);
        Assert.Contains("model.vocab", e.Message);
    }
}
