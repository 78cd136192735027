using System.Text.Json;
using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>Our encoder against ids produced by the reference JavaScript encoder (fixtures/gpt2/make_golden.js).</summary>
public class Gpt2GoldenTests
{
    sealed record GoldenCase(string Text, int[] Ids);

    public static TheoryData<int> CaseIndices()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < LoadGolden().Count; i++) data.Add(i);
        return data;
    }

    static List<GoldenCase> LoadGolden() =>
        JsonSerializer.Deserialize<List<GoldenCase>>(File.ReadAllText(Path.Combine(Gpt2Files.Directory, "golden.json")),
            new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Encode_MatchesReferenceEncoder(int index)
    {
        var golden = LoadGolden()[index];
        Assert.Equal(golden.Ids, Gpt2Files.Tokenizer.Encode(golden.Text));
    }

    [Theory]
    [MemberData(nameof(CaseIndices))]
    public void Decode_OfReferenceIds_GivesBackTheText(int index)
    {
        var golden = LoadGolden()[index];
        Assert.Equal(golden.Text, Gpt2Files.Tokenizer.Decode(golden.Ids));
    }

    [Fact]
    public void GoldenFile_CoversManyCases()
    {
        var cases = LoadGolden();
        Assert.True(cases.Count >= 30, $"only {cases.Count} golden cases");
        Assert.Contains(cases, c => c.Ids.Contains(50256));
        Assert.Contains(cases, c => c.Text.Contains("😀", StringComparison.Ordinal));
    }

    [Fact]
    public void Gpt2Vocabulary_HasEndOfTextAsItsOnlySpecialToken()
    {
        var t = Gpt2Files.Tokenizer;
        Assert.Equal("bpe", t.Kind);
        Assert.Equal(50257, t.VocabSize);
        Assert.Equal(50256, t.EndOfTextId);
        Assert.Equal(new[] { "<|endoftext|>" }, t.SpecialTokens);
        Assert.Equal(50000, t.Merges.Count);
        Assert.Equal(("Ġ", "t"), t.Merges[0]);
        Assert.Equal("Ġthe", t.TokenText(262));
    }

    [Fact]
    public void Decode_HandlesCharactersSplitAcrossTokens()
    {
        var t = Gpt2Files.Tokenizer;
        // "😀" is four UTF-8 bytes that GPT-2 spells with more than one token.
        int[] ids = t.Encode("😀");
        Assert.True(ids.Length > 1, $"expected the emoji to need several tokens, got {ids.Length}");
        Assert.Equal(new byte[] { 0xF0, 0x9F, 0x98, 0x80 }, t.DecodeToBytes(ids));
        byte[] firstPart = t.DecodeToBytes(ids.AsSpan(0, 1));
        Assert.True(firstPart.Length < 4);
        Assert.Equal("\uFFFD", t.Decode(ids.AsSpan(0, 1)).Distinct().Single().ToString());
    }

    [Fact]
    public void Decode_RejectsIdsOutsideTheVocabulary()
    {
        var t = Gpt2Files.Tokenizer;
        var high = Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode(new[] { 464, 50257 }));
        Assert.Contains("50257", high.Message);
        Assert.Contains("[0, 50257)", high.Message);
        var negative = Assert.Throws<ArgumentOutOfRangeException>(() => t.DecodeToBytes(new[] { -1 }));
        Assert.Contains("-1", negative.Message);
    }

    [Fact]
    public void Encode_IsSafeFromManyThreads()
    {
        var t = ByteLevelBpeTokenizer.Load(Gpt2Files.VocabPath, Gpt2Files.MergesPath);   // fresh, empty cache
        var cases = LoadGolden();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 64, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var c = cases[i % cases.Count];
            if (!t.Encode(c.Text).SequenceEqual(c.Ids)) failures.Add(c.Text);
        });
        Assert.Empty(failures);
    }
}
