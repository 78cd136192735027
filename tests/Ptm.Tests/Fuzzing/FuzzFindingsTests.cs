using System.Text;
using Ptm.FineTuning;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tokenization;

namespace Ptm.Tests.Fuzzing;

/// <summary>
/// The defects afl-fuzz found (docs/fuzzing.md), each as the one-line refusal it now gives. The stored inputs
/// themselves are replayed by <see cref="FuzzCorpusTests"/>; these tests pin the messages.
/// </summary>
public class FuzzFindingsTests
{
    [Fact]
    public void RepeatedPropertyInAConfig_IsRefusedNamingTheFile()
    {
        // Was: ArgumentException from JsonObject ("An item with the same key has already been added").
        using var dir = new TempDir();
        string path = dir.File("config.json", """{"model_type": "gpt2", "n_embd": 8, "n_embd": 16}""");
        foreach (var load in new Action[] { () => HfConfig.Load(path), () => GptConfig.Load(path) })
        {
            var e = Assert.Throws<InvalidInputException>(load);
            Assert.StartsWith($"{path}: not valid JSON", e.Message);
            Assert.Contains("n_embd", e.Message);
        }
    }

    [Fact]
    public void RepeatedPropertyInATokenizerJson_IsRefused()
    {
        using var dir = new TempDir();
        dir.File("tokenizer.json", """{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}, "vocab": {}}}""");
        var e = Assert.Throws<InvalidInputException>(() => TokenizerFiles.Load(dir.Path));
        Assert.StartsWith($"{dir.Sub("tokenizer.json")}: not valid JSON", e.Message);
    }

    [Fact]
    public void InvalidUtf8InASafeTensorsIndex_IsRefused()
    {
        // Was: InvalidOperationException ("Cannot transcode invalid UTF-8 JSON text") when a tensor name was read.
        using var dir = new TempDir();
        string path = dir.Sub("model.safetensors.index.json");
        byte[] before = Encoding.UTF8.GetBytes("{\"weight_map\": {\"a"), after = Encoding.UTF8.GetBytes("\": \"x.safetensors\"}}");
        File.WriteAllBytes(path, [.. before, 0xC3, 0x28, .. after]);
        var e = Assert.Throws<InvalidInputException>(() => SafeTensorsIndex.Open(path));
        Assert.Equal($"{path}: not valid UTF-8", e.Message);
    }

    /// <summary>A JSON escape of half a surrogate pair parses, then throws InvalidOperationException when the string
    /// is read (found in a safetensors index); every JSON loader now refuses it up front.</summary>
    [Theory]
    [InlineData("config.json")]
    [InlineData("vocab.json")]
    [InlineData("tokenizer.json")]
    [InlineData("char_vocab.json")]
    [InlineData("manifest.json")]
    [InlineData("task.jsonl")]
    [InlineData("model.safetensors.index.json")]
    [InlineData("model.safetensors")]
    public void EscapedLoneSurrogate_IsRefusedByEveryJsonLoader(string file)
    {
        using var dir = new TempDir();
        string path = dir.Sub(file);
        string json = """{"model_type": "gpt2", "model": {"type": "BPE", "vocab": {"\ud800x": 0}}, "weight_map": {"\udc00": "a"}, "text": "\ud800\u0041", "formatVersion": 1}""";
        if (file == "char_vocab.json") json = """["a", "\ud800"]""";
        if (file == "model.safetensors")
        {
            byte[] header = Encoding.UTF8.GetBytes("""{"\ud800":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}""");
            File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)header.Length), .. header]);
        }
        else File.WriteAllText(path, json);
        if (file == "vocab.json") dir.File("merges.txt", "#version: 0.2\n");
        Action load = file switch
        {
            "config.json" => () => HfConfig.Load(path),
            "manifest.json" => () => Ptm.Data.DataManifest.Load(dir.Path),
            "task.jsonl" => () => TaskFile.Read(path, FineTuneTask.Classify, new TaskColumns()),
            "model.safetensors.index.json" => () => SafeTensorsIndex.Open(path).Dispose(),
            "model.safetensors" => () => SafeTensorsFile.Open(path).Dispose(),
            _ => () => TokenizerFiles.Load(dir.Path),
        };
        var e = Assert.Throws<InvalidInputException>(load);
        Assert.Contains("half of a UTF-16 surrogate pair", e.Message);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void EscapedSurrogatePair_StillLoads()
    {
        using var dir = new TempDir();
        dir.File("char_vocab.json", """["a", "\ud83d\ude00", "\\u", "\\ud800"]""");
        var tokenizer = (CharTokenizer)TokenizerFiles.Load(dir.Path);
        Assert.Equal(["a", "😀", "\\u", "\\ud800"], tokenizer.Symbols);
    }

    [Fact]
    public void ManifestTokenCountThatWrapsToTheFileSize_IsRefused()
    {
        // 2^62 + 2 int32 tokens are 2^64 + 8 bytes, which wrapped to the 8 bytes of the file: the dataset then read
        // far past its mapping (a native crash).
        using var dir = new TempDir();
        dir.File("manifest.json", """
            {"formatVersion": 1, "dtype": "int32", "tokenizer": {"kind": "char", "vocabSize": 4, "endOfTextId": null, "files": []},
             "source": {"train": "x", "validation": null, "validationFraction": null, "seed": null},
             "splits": {"train": {"file": "train.bin", "tokens": 4611686018427387906, "sourceBytes": 8, "documents": 1}}}
            """);
        File.WriteAllBytes(dir.Sub("train.bin"), new byte[8]);
        var e = Assert.Throws<InvalidInputException>(() => Ptm.Data.TokenDataset.Open(dir.Path, "train"));
        Assert.Contains("4611686018427387906 tokens", e.Message);
        Assert.Contains("is not a possible size", e.Message);
    }

    [Fact]
    public void AnswerOffsetNearIntMax_IsRefused()
    {
        // Was: ArgumentOutOfRangeException, the offset plus the answer's length having wrapped negative.
        using var dir = new TempDir();
        string path = dir.Sub("qa.csv");
        File.WriteAllText(path, "question,context,answer_start,answer\nq,abc,2147483647,b\n", Encoding.UTF8);
        var e = Assert.Throws<InvalidInputException>(() => TaskFile.Read(path, FineTuneTask.Span, new TaskColumns()));
        Assert.Contains("lies outside its context", e.Message);
    }
}
