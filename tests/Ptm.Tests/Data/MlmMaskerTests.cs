using Ptm.Data;

namespace Ptm.Tests.Data;

public class MlmMaskerTests
{
    static readonly MlmFakeVocabulary Vocab = new(30000, firstContinuation: 20000);

    /// <summary>[CLS] a [SEP] b [SEP] with random words (no continuations) of random lengths.</summary>
    static List<int[]> Sample(int count, ulong seed, int minLength = 20, int maxLength = 120)
    {
        var rng = new SplitMix64(seed);
        var result = new List<int[]>();
        for (int i = 0; i < count; i++)
        {
            int n = minLength + (int)rng.NextBelow((ulong)(maxLength - minLength + 1));
            var tokens = new int[n];
            for (int t = 0; t < n; t++) tokens[t] = MlmFakeVocabulary.FirstWord + (int)rng.NextBelow(20000 - MlmFakeVocabulary.FirstWord);
            tokens[0] = MlmFakeVocabulary.Cls;
            tokens[n / 2] = MlmFakeVocabulary.Sep;
            tokens[^1] = MlmFakeVocabulary.Sep;
            tokens[n / 3] = MlmFakeVocabulary.Unk; // a special inside the text
            result.Add(tokens);
        }
        return result;
    }

    [Fact]
    public void ChoosesFifteenPercentOfNonSpecialTokensAndSplits80_10_10()
    {
        var masker = new MlmMasker(Vocab, new MlmOptions(MaxPredictionsPerSeq: 255));
        long nonSpecial = 0, chosen = 0, masked = 0, kept = 0, random = 0;
        var rng = new SplitMix64(1);
        foreach (int[] tokens in Sample(4000, 7))
        {
            MlmMask mask = masker.Mask(tokens, ref rng);
            nonSpecial += tokens.Count(t => !Vocab.IsSpecial(t));
            chosen += mask.Positions.Length;
            for (int k = 0; k < mask.Positions.Length; k++)
            {
                int original = tokens[mask.Positions[k]], replacement = mask.Replacements[k];
                if (replacement == MlmFakeVocabulary.MaskToken) masked++;
                else if (replacement == original) kept++;
                else
                {
                    random++;
                    Assert.False(Vocab.IsSpecial(replacement), "random replacements are never special");
                }
            }
        }
        double share = chosen / (double)nonSpecial;
        Console.WriteLine($"MLM: chosen {share:P2} of {nonSpecial} non-special; [MASK] {masked / (double)chosen:P2}, kept {kept / (double)chosen:P2}, random {random / (double)chosen:P2}");
        Assert.InRange(share, 0.14, 0.16);
        Assert.InRange(masked / (double)chosen, 0.78, 0.82);
        Assert.InRange(kept / (double)chosen, 0.08, 0.12);
        Assert.InRange(random / (double)chosen, 0.08, 0.12);
    }

    [Fact]
    public void SpecialTokensAreNeverChosenAndLabelsAreIgnoredExactlyElsewhere()
    {
        var masker = new MlmMasker(Vocab, new MlmOptions(MaskedLmProb: 0.5, MaxPredictionsPerSeq: 255));
        var rng = new SplitMix64(3);
        foreach (int[] tokens in Sample(500, 11, 5, 60))
        {
            MlmMask mask = masker.Mask(tokens, ref rng);
            Assert.All(mask.Positions, p => Assert.False(Vocab.IsSpecial(tokens[p])));
            Assert.Equal(mask.Positions.Order(), mask.Positions);
            Assert.Equal(mask.Positions.Length, mask.Positions.Distinct().Count());

            var inputs = new long[tokens.Length];
            var labels = new long[tokens.Length];
            MlmMasker.Apply(tokens, mask, inputs, labels);
            var chosen = mask.Positions.ToHashSet();
            for (int i = 0; i < tokens.Length; i++)
            {
                Assert.Equal(chosen.Contains(i) ? tokens[i] : MlmMasker.IgnoreLabel, labels[i]);
                if (!chosen.Contains(i)) Assert.Equal(tokens[i], inputs[i]);
            }
        }
    }

    [Fact]
    public void MaxPredictionsCapsAndAtLeastOneIsChosen()
    {
        var masker = new MlmMasker(Vocab, new MlmOptions(MaxPredictionsPerSeq: 20));
        var rng = new SplitMix64(5);
        int[] longSequence = Sample(1, 2, 500, 500)[0];
        Assert.Equal(20, masker.Mask(longSequence, ref rng).Positions.Length);
        int[] tiny = [MlmFakeVocabulary.Cls, 100, MlmFakeVocabulary.Sep, 101, MlmFakeVocabulary.Sep];
        Assert.Single(masker.Mask(tiny, ref rng).Positions);
        Assert.Empty(masker.Mask([MlmFakeVocabulary.Cls, MlmFakeVocabulary.Sep], ref rng).Positions);
    }

    [Fact]
    public void WholeWordMaskingMasksAllPiecesOfAWordTogether()
    {
        // Words of 1-4 pieces: a head id below 20000 followed by "##" ids at or above it.
        var rng = new SplitMix64(9);
        var sequences = new List<(int[] Tokens, int[] WordOf)>();
        for (int s = 0; s < 400; s++)
        {
            var tokens = new List<int> { MlmFakeVocabulary.Cls };
            var wordOf = new List<int> { -1 };
            for (int w = 0; w < 30; w++)
            {
                int pieces = 1 + (int)rng.NextBelow(4);
                tokens.Add(100 + (int)rng.NextBelow(1000));
                wordOf.Add(w);
                for (int p = 1; p < pieces; p++) { tokens.Add(20000 + (int)rng.NextBelow(1000)); wordOf.Add(w); }
            }
            tokens.Add(MlmFakeVocabulary.Sep);
            wordOf.Add(-1);
            sequences.Add((tokens.ToArray(), wordOf.ToArray()));
        }

        int SplitWords(bool wholeWord)
        {
            var masker = new MlmMasker(Vocab, new MlmOptions(MaxPredictionsPerSeq: 255, WholeWordMasking: wholeWord));
            var maskRng = new SplitMix64(4);
            int split = 0, chosenTotal = 0;
            foreach (var (tokens, wordOf) in sequences)
            {
                var chosen = masker.Mask(tokens, ref maskRng).Positions.ToHashSet();
                chosenTotal += chosen.Count;
                foreach (var word in Enumerable.Range(0, tokens.Length).Where(i => wordOf[i] >= 0).GroupBy(i => wordOf[i]))
                    if (word.Any(chosen.Contains) && !word.All(chosen.Contains)) split++;
            }
            Assert.True(chosenTotal > 1000);
            return split;
        }

        Assert.Equal(0, SplitWords(wholeWord: true));
        Assert.True(SplitWords(wholeWord: false) > 0, "without whole-word masking pieces are chosen alone");
    }

    [Fact]
    public void SameGeneratorGivesTheSameMaskAndDynamicRowsDiffer()
    {
        var masker = new MlmMasker(Vocab, new MlmOptions());
        int[] tokens = Sample(1, 3, 100, 100)[0];
        MlmMask Mask(SplitMix64 rng) => masker.Mask(tokens, ref rng);
        Assert.Equal(Mask(MlmMasker.DynamicRng(1, 5, 0)).Positions, Mask(MlmMasker.DynamicRng(1, 5, 0)).Positions);
        Assert.Equal(Mask(MlmMasker.DynamicRng(1, 5, 0)).Replacements, Mask(MlmMasker.DynamicRng(1, 5, 0)).Replacements);
        Assert.NotEqual(Mask(MlmMasker.DynamicRng(1, 5, 0)).Positions, Mask(MlmMasker.DynamicRng(1, 5, 1)).Positions);
        Assert.NotEqual(Mask(MlmMasker.DynamicRng(1, 5, 0)).Positions, Mask(MlmMasker.DynamicRng(1, 6, 0)).Positions);
        Assert.NotEqual(Mask(MlmMasker.DynamicRng(1, 5, 0)).Positions, Mask(MlmMasker.DynamicRng(2, 5, 0)).Positions);
    }

    [Fact]
    public void AdapterMarksBracketTokensSpecialAndHashPiecesContinuations()
    {
        string[] texts = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]", "the", "##s", "#", "##"];
        var vocab = new MaskingVocabulary("wp", 0, 2, 3, 4, texts, s => [6], _ => { });
        Assert.Equal(10, vocab.VocabSize);
        Assert.Equal([true, true, true, true, true, true, false, false, false, false], Enumerable.Range(0, 10).Select(vocab.IsSpecial));
        Assert.Equal([false, false, false, false, false, false, false, true, false, false], Enumerable.Range(0, 10).Select(vocab.IsContinuation));
        Assert.Throws<ArgumentOutOfRangeException>(() => new MaskingVocabulary("wp", 0, 2, 3, 10, texts, s => [], _ => { }));
    }
}
