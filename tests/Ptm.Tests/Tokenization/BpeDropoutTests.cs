using System.Text;
using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>BPE-dropout (Provilkov et al., 2020): exact segmentation probabilities on hand-made merges, and the two
/// ends of the rate on GPT-2's real vocabulary.</summary>
public class BpeDropoutTests
{
    static ByteLevelBpeTokenizer HandMade(params (string Left, string Right)[] merges)
    {
        var vocabulary = Enumerable.Range(0, 256).Select(b => ByteLevelAlphabet.ToChar((byte)b).ToString())
            .Concat(merges.Select(m => m.Left + m.Right)).ToList();
        return new ByteLevelBpeTokenizer(vocabulary, merges, []);
    }

    // How often each segmentation of "abc" comes out in 4,000 draws at rate 0.5, as space-joined tokens.
    static Dictionary<string, double> Shares(ByteLevelBpeTokenizer tokenizer)
    {
        var random = new Random(11);
        const int draws = 4000;
        return Enumerable.Range(0, draws)
            .Select(_ => string.Join(' ', tokenizer.EncodeWithDropout("abc", 0.5, random).Select(tokenizer.TokenText)))
            .GroupBy(s => s).ToDictionary(g => g.Key, g => g.Count() / (double)draws);
    }

    /// <summary>Merges a+b then ab+c: each step's only pair survives with probability 1 − p, so "abc" comes out whole
    /// with (1 − p)², as "ab c" with (1 − p)p and as bytes with p; at p = 0.5: 0.25, 0.25, 0.5.</summary>
    [Fact]
    public void AChainOfMergesStopsAtEachStepWithTheDropoutRate()
    {
        var shares = Shares(HandMade(("a", "b"), ("ab", "c")));
        Assert.Equal(["a b c", "ab c", "abc"], shares.Keys.Order());
        Assert.InRange(shares["abc"], 0.22, 0.28); // 4,000 draws: the standard deviation of a share is at most 0.008
        Assert.InRange(shares["ab c"], 0.22, 0.28);
        Assert.InRange(shares["a b c"], 0.47, 0.53);
    }

    /// <summary>b+c outranks a+b. Kept (1 − p), it wins: "a bc". Dropped while a+b is kept (p(1 − p)), the
    /// lower-ranked merge applies and gives "ab c", which plain BPE never produces; both dropped (p²): bytes.</summary>
    [Fact]
    public void DroppingTheBestMergeLetsALowerRankedOneApply()
    {
        var tokenizer = HandMade(("b", "c"), ("a", "b"));
        Assert.Equal(["a", "bc"], tokenizer.Encode("abc").Select(tokenizer.TokenText));
        var shares = Shares(tokenizer);
        Assert.Equal(["a b c", "a bc", "ab c"], shares.Keys.Order());
        Assert.InRange(shares["a bc"], 0.47, 0.53);
        Assert.InRange(shares["ab c"], 0.22, 0.28);
        Assert.InRange(shares["a b c"], 0.22, 0.28);
    }

    static readonly string[] Lines =
    [
        "In the beginning God created the heaven and the earth.",
        "Die Straßenbahn fährt über die Brücke, nicht wahr?",
        "unbelievably    spaced\ttext with <|endoftext|> inside, and numbers 1234567",
    ];

    /// <summary>Rate 0 is plain BPE; rate 1 leaves every pre-token as its bytes (special tokens still whole); in
    /// between, the ids differ from plain BPE's but always decode to the same text.</summary>
    [Fact]
    public void RateZeroIsPlainBpeRateOneIsBytesAndEveryDrawDecodesToTheText()
    {
        var gpt2 = Gpt2Files.Tokenizer;
        var random = new Random(5);
        foreach (string line in Lines)
        {
            Assert.Equal(gpt2.Encode(line), gpt2.EncodeWithDropout(line, 0, random));
            int[] bytes = gpt2.EncodeWithDropout(line, 1, random);
            string plain = line.Replace(ByteLevelBpeTokenizer.EndOfText, "");
            Assert.Equal(Encoding.UTF8.GetByteCount(plain) + (line.Length - plain.Length) / ByteLevelBpeTokenizer.EndOfText.Length, bytes.Length);
            Assert.Equal(line, gpt2.Decode(bytes));
        }
        int differing = 0, longer = 0;
        for (int draw = 0; draw < 20; draw++)
            foreach (string line in Lines)
            {
                int[] ids = gpt2.EncodeWithDropout(line, 0.1, random), plain = gpt2.Encode(line);
                Assert.Equal(line, gpt2.Decode(ids));
                if (!ids.SequenceEqual(plain)) differing++;
                if (ids.Length > plain.Length) longer++;
            }
        Assert.True(differing >= 30, $"only {differing} of 60 draws at rate 0.1 differ from plain BPE");
        Assert.True(longer >= 30, $"only {longer} of 60 draws at rate 0.1 are longer than plain BPE");
        Assert.Throws<ArgumentOutOfRangeException>(() => gpt2.EncodeWithDropout("x", 1.5, random));
    }
}
