using System.Text.Json;
using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>vocab.txt + tokenizer_config.json, Hugging Face tokenizer.json, TokenizerFiles detection, bad files.</summary>
public class WordPieceFilesTests
{
    static string FixturePath => Path.Combine(AppContext.BaseDirectory, "fixtures", "wordpiece", "tokenizer.json");

    static void WriteVocab(TempDir dir, params string[] tokens) =>
        dir.File("vocab.txt", string.Join("\n", tokens) + "\n");

    [Fact]
    public void SaveLoad_RoundTripsVocabularyAndCasing()
    {
        using var dir = new TempDir();
        var original = new WordPieceTokenizer(WordPieceTokenizerTests.TinyVocab,
            new WordPieceSettings { DoLowerCase = false, StripAccents = true, ModelMaxLength = 128 });
        original.Save(dir.Path);

        Assert.Equal(string.Join("\n", WordPieceTokenizerTests.TinyVocab) + "\n", File.ReadAllText(dir.Sub("vocab.txt")));
        using (var config = JsonDocument.Parse(File.ReadAllText(dir.Sub("tokenizer_config.json"))))
        {
            Assert.False(config.RootElement.GetProperty("do_lower_case").GetBoolean());
            Assert.True(config.RootElement.GetProperty("strip_accents").GetBoolean());
            Assert.Equal("BertTokenizer", config.RootElement.GetProperty("tokenizer_class").GetString());
            Assert.Equal(128, config.RootElement.GetProperty("model_max_length").GetInt32());
        }

        var loaded = WordPieceTokenizer.Load(dir.Path);
        Assert.Equal(original.Vocabulary, loaded.Vocabulary);
        Assert.Equal(original.Settings, loaded.Settings);
        Assert.Equal(new[] { 1, 5, 6, 7 }, loaded.Encode("UNaffable unaffablé"));   // cased, accents stripped
        Assert.IsType<WordPieceTokenizer>(TokenizerFiles.Load(dir.Path));
    }

    [Fact]
    public void Load_WithoutConfig_LowerCasesLikeHuggingFace()
    {
        using var dir = new TempDir();
        WriteVocab(dir, WordPieceTokenizerTests.TinyVocab);
        var t = WordPieceTokenizer.Load(dir.Path);
        Assert.True(t.DoLowerCase);
        Assert.Equal(new[] { 5, 6, 7 }, t.Encode("UnAffable"));
    }

    [Fact]
    public void Load_HonoursDoLowerCaseFalseInConfig()
    {
        using var dir = new TempDir();
        WriteVocab(dir, WordPieceTokenizerTests.TinyVocab);
        dir.File("tokenizer_config.json", """{"do_lower_case": false, "tokenizer_class": "BertTokenizer", "model_max_length": 1000000000000000019884624838656}""");
        var t = WordPieceTokenizer.Load(dir.Path);
        Assert.False(t.DoLowerCase);
        Assert.Equal(512, t.Settings.ModelMaxLength);    // Hugging Face's "no limit" sentinel keeps the default
        Assert.Equal(new[] { 1 }, t.Encode("UnAffable"));
    }

    [Fact]
    public void HuggingFaceJson_FixtureLoads()
    {
        var t = WordPieceTokenizer.LoadHuggingFaceJson(FixturePath);
        Assert.Equal(11, t.VocabSize);
        Assert.True(t.DoLowerCase);
        Assert.Equal(new[] { 5, 6, 7, 8, 9, 10 }, t.Encode("UnAffable Café中!"));
        // max_input_chars_per_word is 20 in the fixture: a 21-letter word that would otherwise match is [UNK].
        Assert.Equal(new[] { 5, 6, 6, 6, 6, 6, 6 }, t.Encode("un" + string.Concat(Enumerable.Repeat("aff", 6))));
        Assert.Equal(new[] { 1 }, t.Encode("un" + string.Concat(Enumerable.Repeat("aff", 6)) + "x"));

        using var dir = new TempDir();
        File.Copy(FixturePath, dir.Sub("tokenizer.json"));
        Assert.Equal(t.Vocabulary, Assert.IsType<WordPieceTokenizer>(TokenizerFiles.Load(dir.Path)).Vocabulary);
    }

    [Fact]
    public void HuggingFaceJson_OtherModelOrNormalizer_IsRejected()
    {
        using var dir = new TempDir();
        string json = File.ReadAllText(FixturePath);
        dir.File("tokenizer.json", json.Replace("\"type\": \"WordPiece\"", "\"type\": \"BPE\""));
        var e = Assert.Throws<InvalidInputException>(() => WordPieceTokenizer.LoadHuggingFaceJson(dir.Sub("tokenizer.json")));
        Assert.Contains("'BPE', expected 'WordPiece'", e.Message);
        // TokenizerFiles hands a BPE tokenizer.json to the byte-level loader, which refuses BERT's pre-tokenizer.
        e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains("normalizer", e.Message);
        // A tokenizer.json of a model type Ptm lacks is left alone: nothing it knows is there, and it says why.
        dir.File("tokenizer.json", json.Replace("\"type\": \"WordPiece\"", "\"type\": \"Unigram\""));
        e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains("no tokenizer files", e.Message);
        Assert.Contains("'Unigram'", e.Message);

        dir.File("tokenizer.json", json.Replace("\"BertNormalizer\"", "\"NFKC\""));
        e = Assert.Throws<InvalidInputException>(() => WordPieceTokenizer.LoadHuggingFaceJson(dir.Sub("tokenizer.json")));
        Assert.Contains("normalizer", e.Message);
    }

    [Fact]
    public void MissingSpecialTokens_AreNamedWithTheFile()
    {
        using var dir = new TempDir();
        WriteVocab(dir, "[UNK]", "[CLS]", "[SEP]", "a", "##b");
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains(dir.Sub("vocab.txt"), e.Message);
        Assert.Contains("[PAD] [MASK]", e.Message);
    }

    [Fact]
    public void DuplicateToken_NamesBothLines()
    {
        using var dir = new TempDir();
        WriteVocab(dir, "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "a");
        var e = Assert.Throws<InvalidInputException>(() => WordPieceTokenizer.Load(dir.Path));
        Assert.Contains("vocab.txt, line 7", e.Message);
        Assert.Contains("repeats line 6", e.Message);
    }

    [Fact]
    public void EmptyVocabulary_IsAnError()
    {
        using var dir = new TempDir();
        dir.File("vocab.txt", "");
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Fact]
    public void MalformedConfig_NamesTheFieldAndFile()
    {
        using var dir = new TempDir();
        WriteVocab(dir, WordPieceTokenizerTests.TinyVocab);
        dir.File("tokenizer_config.json", """{"do_lower_case": "yes"}""");
        var e = Assert.Throws<InvalidInputException>(() => WordPieceTokenizer.Load(dir.Path));
        Assert.Contains("tokenizer_config.json", e.Message);
        Assert.Contains("do_lower_case", e.Message);
    }

    public static TheoryData<string> RoundTripSettings => new() { "default", "cased", "bare" };

    static WordPieceSettings SettingsFor(string name) => name switch
    {
        "default" => new WordPieceSettings(),
        "cased" => new WordPieceSettings { DoLowerCase = false, StripAccents = true, ModelMaxLength = 128, MaxInputCharsPerWord = 20 },
        _ => new WordPieceSettings { DoLowerCase = false, StripAccents = false, TokenizeChineseChars = false, CleanText = false },
    };

    [Theory]
    [MemberData(nameof(RoundTripSettings))]
    public void HuggingFaceJson_SaveThenLoad_GivesSameSettingsAndIds(string name)
    {
        using var dir = new TempDir();
        var original = new WordPieceTokenizer(WordPieceTokenizerTests.TinyVocab, SettingsFor(name));
        original.SaveHuggingFaceJson(dir.Sub("tokenizer.json"));
        var loaded = WordPieceTokenizer.LoadHuggingFaceJson(dir.Sub("tokenizer.json"));
        Assert.Equal(original.Settings, loaded.Settings);
        Assert.Equal(original.Vocabulary, loaded.Vocabulary);
        foreach (string text in new[] { "UnAffable unaffablé", "wanted\u0000 中 [CLS] x", "un" + string.Concat(Enumerable.Repeat("aff", 8)) })
            Assert.Equal(original.Encode(text), loaded.Encode(text));

        using var doc = JsonDocument.Parse(File.ReadAllText(dir.Sub("tokenizer.json")));
        var root = doc.RootElement;
        Assert.Equal("BertPreTokenizer", root.GetProperty("pre_tokenizer").GetProperty("type").GetString());
        Assert.Equal("WordPiece", root.GetProperty("decoder").GetProperty("type").GetString());
        Assert.Equal(5, root.GetProperty("added_tokens").GetArrayLength());
        var post = root.GetProperty("post_processor");
        Assert.Equal("TemplateProcessing", post.GetProperty("type").GetString());
        Assert.Equal(5, post.GetProperty("pair").GetArrayLength());
        Assert.Equal(original.ClsId, post.GetProperty("special_tokens").GetProperty("[CLS]").GetProperty("ids")[0].GetInt32());
        Assert.Equal(original.SepId, post.GetProperty("special_tokens").GetProperty("[SEP]").GetProperty("ids")[0].GetInt32());
        var strip = root.GetProperty("normalizer").GetProperty("strip_accents");
        Assert.Equal(original.Settings.StripAccents, strip.ValueKind == JsonValueKind.Null ? null : strip.GetBoolean());
    }

    [Fact]
    public void Save_AlsoWritesTokenizerJson_ThatTokenizerFilesPrefers()
    {
        using var dir = new TempDir();
        var original = new WordPieceTokenizer(WordPieceTokenizerTests.TinyVocab, new WordPieceSettings { DoLowerCase = false, ModelMaxLength = 64 });
        original.Save(dir.Path);
        Assert.True(File.Exists(dir.Sub("tokenizer.json")));
        File.Delete(dir.Sub("vocab.txt"));
        File.Delete(dir.Sub("tokenizer_config.json"));
        var loaded = Assert.IsType<WordPieceTokenizer>(TokenizerFiles.Load(dir.Path));
        Assert.Equal(original.Settings, loaded.Settings);
    }
}
