using Ptm.Data;

namespace Ptm.Tests.Data;

public class DenoisingNoiserTests
{
    const int Mask = 99;

    static int[] Range(int start, int count) => Enumerable.Range(start, count).ToArray();

    /// <summary>Checks that <paramref name="output"/> is <paramref name="tokens"/> with spans replaced by one mask each:
    /// the kept tokens in order, and returns (masks, tokens removed).</summary>
    static (int Masks, int Removed) Decompose(int[] tokens, int[] output)
    {
        int next = 0, masks = 0;
        foreach (int id in output)
        {
            if (id == Mask) { masks++; continue; }
            while (next < tokens.Length && tokens[next] != id) next++;
            Assert.True(next < tokens.Length, $"token {id} is not a kept token in order");
            next++;
        }
        return (masks, tokens.Length - (output.Length - masks));
    }

    /// <summary>A fixed seed gives this exact output. By hand: 10 tokens, round(0.3 · 10) = 3 masked; the spans drawn
    /// are 2 and 1 tokens long (Poisson draws, the last cut to what is still needed), so 2 masks replace 3 tokens and
    /// the 7 other tokens are kept in order: 7 + 2 = 9 slots, of which a uniform draw made slots 2 and 8 the spans, so
    /// 12 13 become one mask and 19 another.</summary>
    [Fact]
    public void InfillingOnAFixedSeedIsExact()
    {
        var rng = new SplitMix64(7);
        var probe = rng;
        int[] lengths = DenoisingNoiser.SpanLengths(10, 0.3, 3, ref probe);
        int[] output = DenoisingNoiser.Infill(Range(10, 10), 0.3, 3, Mask, ref rng);
        Assert.Equal(3, lengths.Sum());
        Assert.Equal(GoldenLengths, lengths);
        Assert.Equal(GoldenOutput, string.Join(",", output));
        Assert.Equal((lengths.Length, 3), Decompose(Range(10, 10), output));
    }

    static readonly int[] GoldenLengths = [2, 1];
    const string GoldenOutput = "10,11,99,14,15,16,17,18,99";

    [Fact]
    public void SameSeedSameNoiseOtherSeedOther()
    {
        var noiser = new DenoisingNoiser(new DenoisingOptions(PermuteSentences: true, DeleteRatio: 0.1), Mask);
        int[][] sentences = [Range(0, 12), Range(20, 9), Range(40, 15)];
        var a = new SplitMix64(3);
        var b = new SplitMix64(3);
        var c = new SplitMix64(4);
        var (sa, ta) = noiser.Noise(sentences, ref a);
        var (sb, tb) = noiser.Noise(sentences, ref b);
        var (sc, _) = noiser.Noise(sentences, ref c);
        Assert.Equal(sa, sb);
        Assert.Equal(ta, tb);
        Assert.NotEqual(sa, sc);
        Assert.Equal(sentences.SelectMany(s => s), ta); // the target is the original, in order
    }

    /// <summary>Over many sequences of many lengths: exactly round(0.3 n) tokens masked each time, one mask per span
    /// (zero-length spans included, which insert a mask), kept tokens in order; the mean masked share is 0.3.</summary>
    [Fact]
    public void EachSpanIsOneMaskAndThirtyPercentIsMasked()
    {
        long masked = 0, total = 0, zeroSpans = 0;
        for (int seed = 0; seed < 2000; seed++)
        {
            int n = 5 + seed % 120;
            var rng = new SplitMix64((ulong)seed);
            var probe = rng;
            int[] lengths = DenoisingNoiser.SpanLengths(n, 0.3, 3, ref probe);
            int[] tokens = Range(1000, n);
            int[] output = DenoisingNoiser.Infill(tokens, 0.3, 3, Mask, ref rng);
            var (masks, removed) = Decompose(tokens, output);
            Assert.Equal(lengths.Length, masks);
            Assert.Equal((int)Math.Round(0.3 * n, MidpointRounding.AwayFromZero), removed);
            Assert.Equal(n - removed + lengths.Length, output.Length);
            masked += removed;
            total += n;
            zeroSpans += lengths.Count(l => l == 0);
        }
        Assert.InRange((double)masked / total, 0.295, 0.305);
        Assert.True(zeroSpans > 100, $"only {zeroSpans} zero-length spans (insertions) in 2000 sequences");
    }

    /// <summary>Poisson(3): mean 3, variance 3, P(0) = e^-3 ≈ 0.0498, over 40,000 draws (tolerances about 5 standard errors).</summary>
    [Fact]
    public void PoissonDrawsHaveMeanThree()
    {
        var rng = new SplitMix64(12345);
        var draws = Enumerable.Range(0, 40_000).Select(_ => DenoisingNoiser.SamplePoisson(3, ref rng)).ToArray();
        double mean = draws.Average(), variance = draws.Select(d => (d - mean) * (d - mean)).Average();
        Assert.InRange(mean, 2.96, 3.04);
        Assert.InRange(variance, 2.85, 3.15);
        Assert.InRange(draws.Count(d => d == 0) / 40_000.0, 0.045, 0.055);
    }

    /// <summary>On long sequences the spans' mean length is λ (the one span cut to fit barely moves it).</summary>
    [Fact]
    public void SpanLengthsMeasuredInInfillingAverageLambda()
    {
        long spans = 0, length = 0;
        for (int seed = 0; seed < 50; seed++)
        {
            var rng = new SplitMix64((ulong)seed + 100);
            int[] lengths = DenoisingNoiser.SpanLengths(2000, 0.3, 3, ref rng);
            spans += lengths.Length;
            length += lengths.Sum();
        }
        Assert.InRange((double)length / spans, 2.9, 3.1);
    }

    /// <summary>Sentence permutation alone: the source holds the same sentences (as a multiset), in another order for
    /// some seed; the target keeps the original order.</summary>
    [Fact]
    public void PermutationKeepsTheSentences()
    {
        var noiser = new DenoisingNoiser(new DenoisingOptions(MaskRatio: 0, PermuteSentences: true), Mask);
        int[][] sentences = [Range(0, 3), Range(10, 5), Range(20, 2), Range(30, 4), Range(10, 5)];
        bool moved = false;
        for (ulong seed = 0; seed < 20; seed++)
        {
            var rng = new SplitMix64(seed);
            var (source, target) = noiser.Noise(sentences, ref rng);
            Assert.Equal(sentences.SelectMany(s => s), target);
            // Cut the source back into sentences by their first tokens (0, 10, 20, 30 start them).
            var pieces = new List<string>();
            foreach (int id in source)
            {
                if (id % 10 == 0) pieces.Add("");
                pieces[^1] += id + ",";
            }
            Assert.Equal(sentences.Select(s => string.Concat(s.Select(i => i + ","))).Order(), pieces.Order());
            moved |= !source.SequenceEqual(target);
        }
        Assert.True(moved);
    }

    /// <summary>Token deletion alone drops about the given share, keeps the rest in order and adds no mask.</summary>
    [Fact]
    public void DeletionDropsTokensWithoutMasks()
    {
        var noiser = new DenoisingNoiser(new DenoisingOptions(MaskRatio: 0, PermuteSentences: false, DeleteRatio: 0.2), Mask);
        long kept = 0, total = 0;
        for (ulong seed = 0; seed < 200; seed++)
        {
            var rng = new SplitMix64(seed);
            int[] tokens = Range(0, 50);
            var (source, _) = noiser.Noise([tokens], ref rng);
            Assert.DoesNotContain(Mask, source);
            Assert.Equal(source.Order(), source);  // a subsequence of an increasing sequence
            kept += source.Length;
            total += tokens.Length;
        }
        Assert.InRange(1 - (double)kept / total, 0.18, 0.22);
    }

    [Theory]
    [InlineData(1.0, 3.0, 0.0, "MaskRatio")]
    [InlineData(-0.1, 3.0, 0.0, "MaskRatio")]
    [InlineData(0.3, 0.0, 0.0, "PoissonLambda")]
    [InlineData(0.3, 3.0, 1.0, "DeleteRatio")]
    public void OptionsOutOfRangeAreRefused(double mask, double lambda, double delete, string property)
    {
        var e = Assert.ThrowsAny<InvalidInputException>(() => new DenoisingNoiser(new DenoisingOptions(mask, lambda, false, delete), Mask));
        Assert.Contains($"DenoisingOptions.{property}", e.Message);
    }

    /// <summary>BART's layout of a trained vocabulary: &lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt; are ids 0–3, &lt;mask&gt;
    /// the last; the mask is matched literally in text; the files load back with the same ids.</summary>
    [Fact]
    public void BartVocabularyPutsSpecialsWhereBartHasThem()
    {
        var tokenizer = BartVocabulary.Train(["the light was good and god said let there be day", "und es ward licht"], 300);
        Assert.Equal(300, tokenizer.VocabSize);
        Assert.Equal(["<s>", "<pad>", "</s>", "<unk>"], Enumerable.Range(0, 4).Select(tokenizer.TokenText));
        Assert.Equal("<mask>", tokenizer.TokenText(299));
        Assert.Equal(299, BartVocabulary.Id(tokenizer, BartVocabulary.Mask, "test"));
        int[] ids = tokenizer.Encode("the light<mask> day");
        Assert.Contains(299, ids);
        Assert.Equal("the light<mask> day", tokenizer.Decode(ids));
        string dir = Path.Combine(Path.GetTempPath(), "ptm-bartvocab-" + Guid.NewGuid().ToString("N"));
        try
        {
            tokenizer.Save(dir);
            var loaded = Assert.IsType<Ptm.Tokenization.ByteLevelBpeTokenizer>(Ptm.Tokenization.TokenizerFiles.Load(dir));
            Assert.Equal(ids, loaded.Encode("the light<mask> day"));
            Assert.Equal(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], loaded.SpecialTokens);
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }
}
