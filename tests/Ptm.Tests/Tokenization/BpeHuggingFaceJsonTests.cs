using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>Hugging Face tokenizer.json for byte-level BPE: GPT-2 round trip, both merge spellings, refusals.</summary>
public class BpeHuggingFaceJsonTests
{
    static string FixturePath => Path.Combine(AppContext.BaseDirectory, "fixtures", "bpe", "tokenizer.json");

    static IEnumerable<(string Text, int[] Ids)> Golden()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Gpt2Files.Directory, "golden.json")));
        return doc.RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("text").GetString()!, e.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToList();
    }

    static void AssertSameTokenizer(ByteLevelBpeTokenizer expected, ByteLevelBpeTokenizer actual)
    {
        Assert.Equal(expected.VocabSize, actual.VocabSize);
        for (int id = 0; id < expected.VocabSize; id++) Assert.Equal(expected.TokenText(id), actual.TokenText(id));
        Assert.Equal(expected.Merges, actual.Merges);
        Assert.Equal(expected.SpecialTokens, actual.SpecialTokens);
        Assert.Equal(expected.EndOfTextId, actual.EndOfTextId);
    }

    [Fact]
    public void Gpt2_RoundTripsThroughTokenizerJson_WithGoldenIds()
    {
        using var dir = new TempDir();
        var gpt2 = Gpt2Files.Tokenizer;
        gpt2.SaveHuggingFaceJson(dir.Sub("tokenizer.json"));

        var root = JsonNode.Parse(File.ReadAllText(dir.Sub("tokenizer.json")))!;
        Assert.Equal("1.0", (string?)root["version"]);
        Assert.Equal("<|endoftext|>", (string?)root["added_tokens"]![0]!["content"]);
        Assert.Equal(50256, (int)root["added_tokens"]![0]!["id"]!);
        Assert.True((bool)root["added_tokens"]![0]!["special"]!);
        Assert.Equal("Ġ t", (string?)root["model"]!["merges"]![0]);
        Assert.False((bool)root["pre_tokenizer"]!["add_prefix_space"]!);

        var loaded = ByteLevelBpeTokenizer.LoadHuggingFaceJson(dir.Sub("tokenizer.json"));
        AssertSameTokenizer(gpt2, loaded);
        foreach (var (text, ids) in Golden()) Assert.Equal(ids, loaded.Encode(text));

        // The same file with merges as [left, right] pairs (newer tokenizers) gives the same tokenizer.
        var merges = root["model"]!["merges"]!.AsArray();
        var pairs = new JsonArray(merges.Select(m => (JsonNode)new JsonArray(((string)m!).Split(' ').Select(p => (JsonNode)p).ToArray())).ToArray());
        root["model"]!["merges"] = pairs;
        dir.File("pairs.json", root.ToJsonString());
        AssertSameTokenizer(gpt2, ByteLevelBpeTokenizer.LoadHuggingFaceJson(dir.Sub("pairs.json")));
    }

    [Fact]
    public void ArrayMergesFixture_LoadsWithExactIds()
    {
        var t = ByteLevelBpeTokenizer.LoadHuggingFaceJson(FixturePath);
        Assert.Equal(263, t.VocabSize);
        Assert.Equal(["<|pad|>", "<|endoftext|>"], t.SpecialTokens);
        Assert.Equal(262, t.EndOfTextId);
        int[] ids = t.Encode("hello world<|endoftext|><|pad|>");
        Assert.Equal([259, 260, 'o', 'r', 'l', 'd', 262, 261], ids);
        Assert.Equal("hello world<|endoftext|><|pad|>", t.Decode(ids));

        // Saved and read back through a folder, the added token outside model.vocab keeps its id.
        using var dir = new TempDir();
        t.Save(dir.Path);
        File.Delete(dir.Sub("vocab.json"));
        File.Delete(dir.Sub("merges.txt"));
        var back = Assert.IsType<ByteLevelBpeTokenizer>(TokenizerFiles.Load(dir.Path));
        AssertSameTokenizer(t, back);
    }

    public static TheoryData<string, string, string> Refusals => new()
    {
        { "model.type", """{"model": {"type": "Unigram"}}""", "model.type" },
        { "pre_tokenizer", """{"pre_tokenizer": {"type": "Whitespace"}}""", "pre_tokenizer.type" },
        { "no pre_tokenizer", """{"pre_tokenizer": null}""", "pre_tokenizer" },
        { "add_prefix_space", """{"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true}}""", "pre_tokenizer.add_prefix_space" },
        { "add_prefix_space null", """{"pre_tokenizer": {"add_prefix_space": null}}""", "pre_tokenizer.add_prefix_space" },
        { "use_regex", """{"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}}""", "pre_tokenizer.use_regex" },
        { "normalizer", """{"normalizer": {"type": "NFC"}}""", "normalizer" },
        { "decoder", """{"decoder": {"type": "WordPiece"}}""", "decoder.type" },
        { "post_processor", """{"post_processor": {"type": "TemplateProcessing"}}""", "post_processor.type" },
        { "byte_fallback", """{"model": {"byte_fallback": true}}""", "model.byte_fallback" },
        { "dropout", """{"model": {"dropout": 0.1}}""", "model.dropout" },
        { "prefix", """{"model": {"continuing_subword_prefix": "##"}}""", "model.continuing_subword_prefix" },
        { "suffix", """{"model": {"end_of_word_suffix": "</w>"}}""", "model.end_of_word_suffix" },
        { "ignore_merges", """{"model": {"ignore_merges": true}}""", "model.ignore_merges" },
        { "bad merge", """{"model": {"merges": [["h", "e"], ["he"]]}}""", "model.merges[1]" },
        { "unknown merge part", """{"model": {"merges": [["h", "e"], ["x", "q"]]}}""", "model.merges[1]" },
        { "lstrip", """{"added_tokens": [{"id": 261, "content": "<|pad|>", "lstrip": true}]}""", "added_tokens[0].lstrip" },
        { "added id", """{"added_tokens": [{"id": 300, "content": "<|x|>"}]}""", "added_tokens[0].id" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void UnsupportedOrMalformed_IsRefusedNamingFileAndField(string name, string patch, string field)
    {
        _ = name;
        var root = JsonNode.Parse(File.ReadAllText(FixturePath))!.AsObject();
        Merge(root, JsonNode.Parse(patch)!.AsObject());
        using var dir = new TempDir();
        dir.File("tokenizer.json", root.ToJsonString());
        var e = Assert.Throws<InvalidInputException>(() => ByteLevelBpeTokenizer.LoadHuggingFaceJson(dir.Sub("tokenizer.json")));
        Assert.Contains(dir.Sub("tokenizer.json"), e.Message);
        Assert.Contains(field, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>Overwrites <paramref name="target"/>'s fields with <paramref name="patch"/>'s, recursing into objects.</summary>
    static void Merge(JsonObject target, JsonObject patch)
    {
        foreach (var (key, value) in patch.ToList())
        {
            if (value is JsonObject sub && target[key] is JsonObject existing) Merge(existing, sub);
            else target[key] = value?.DeepClone();
        }
    }
}
