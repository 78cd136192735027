using System.Text;
using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>decode(encode(s)) == s for random strings built from the kinds of text that trip up tokenizers.</summary>
public class RoundTripPropertyTests
{
    static readonly string[] Pools =
    {
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.,;:!?-()\"",
        "    \t\t\n\n\r\u00a0\u2003\u3000\u0085",
        "中文日本語한국어文字",
        "éèêëñüößçåÅØæ",
        "\u0301\u0308\u0327\u20dd",                 // combining marks
        "\u0000\u0001\u0007\u001b\u007f\u001c\u200b\u200d\ufeff",
        "مرحبا",
    };
    static readonly string[] Astral = { "😀", "🎉", "👩‍👧", "🇩🇪", "𝐀", "𠀀", "🤖" };

    internal static string RandomText(Random random, int maxLength)
    {
        var sb = new StringBuilder();
        int length = random.Next(0, maxLength);
        while (sb.Length < length)
        {
            int pool = random.Next(Pools.Length + 1);
            if (pool == Pools.Length) sb.Append(Astral[random.Next(Astral.Length)]);
            else sb.Append(Pools[pool][random.Next(Pools[pool].Length)]);
            if (random.Next(20) == 0) sb.Append("<|endoftext|>");
        }
        return sb.ToString();
    }

    static void AssertRoundTrips(ITokenizer tokenizer, int seed, int count)
    {
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            string text = RandomText(random, 60);
            int[] ids = tokenizer.Encode(text);
            Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabSize - 1));
            string back = tokenizer.Decode(ids);
            if (back != text)
                Assert.Fail($"case {i}: round trip changed {Escape(text)} into {Escape(back)} (ids {string.Join(",", ids)})");
            Assert.Equal(Encoding.UTF8.GetBytes(text), tokenizer.DecodeToBytes(ids));
        }
    }

    static string Escape(string s) => string.Concat(s.Select(c => c is >= ' ' and < '\u007f' ? c.ToString() : $"\\u{(int)c:X4}"));

    [Fact]
    public void Gpt2Vocabulary_RoundTripsRandomText() => AssertRoundTrips(Gpt2Files.Tokenizer, seed: 42, count: 3000);

    [Fact]
    public void TrainedVocabulary_RoundTripsRandomText()
    {
        var random = new Random(7);
        var corpus = Enumerable.Range(0, 300).Select(_ => RandomText(random, 80)).Append(BpeTrainerTests.SampleCorpus());
        var trained = ByteLevelBpeTokenizer.Train(corpus, 800, new[] { "<|endoftext|>" });
        Assert.True(trained.Merges.Count > 400, $"only {trained.Merges.Count} merges learned");
        AssertRoundTrips(trained, seed: 43, count: 3000);
    }

    [Fact]
    public void EndOfText_IsOneTokenAndSplitsTheText()
    {
        var t = Gpt2Files.Tokenizer;
        int[] ids = t.Encode("a<|endoftext|>b");
        Assert.Equal(new[] { t.Encode("a")[0], 50256, t.Encode("b")[0] }, ids);
        // Without the literal, the pieces around it are ordinary text.
        Assert.DoesNotContain(50256, t.Encode("<|endoftext|"));
    }
}
