using Ptm.Data;

namespace Ptm.Tests.Data;

public class KnowledgeMaskingTests
{
    static readonly string[] Texts =
    [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
        "the", "children", "of", "is", "##rael", "went", "up", "mount", "sin", "##ai", "moses", "said", "and", "to", "people",
    ];

    // Encodes like WordPiece would here: "israel" → is ##rael, "sinai" → sin ##ai, other words one token each.
    static readonly MaskingVocabulary Vocab = new("wordpiece", 0, 2, 3, 4, Texts,
        text => text.ToLowerInvariant().Split(' ').SelectMany(w => w switch
        {
            "israel" => new[] { 8, 9 },
            "sinai" => [13, 14],
            _ => [Array.IndexOf(Texts, w) is int i and >= 0 ? i : 1],
        }).ToArray(), _ => { });

    static int[] Ids(string tokens) => tokens.Split(' ').Select(t => Array.IndexOf(Texts, t)).ToArray();

    // positions:             0     1   2        3  4  5      6    7  8     9   10   11    12    13   14
    static readonly int[] Sequence = Ids("[CLS] the children of is ##rael went up mount sin ##ai [SEP] moses said [SEP]");

    static KnowledgeMasker Masker(MaskingUnit unit, MaskingLexicon? lexicon = null, double prob = 0.15) =>
        new(Vocab, new MlmOptions(prob, 100), unit, lexicon);

    [Fact]
    public void UnitsFollowTheChosenGranularity()
    {
        var (tokens, candidates) = Masker(MaskingUnit.Token).Units(Sequence);
        Assert.Equal(12, candidates);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13], tokens.Select(u => u.Start));
        Assert.All(tokens, u => Assert.Equal(1, u.Count));

        var (words, _) = Masker(MaskingUnit.WholeWord).Units(Sequence);
        Assert.Equal([(1, 1), (2, 1), (3, 1), (4, 2), (6, 1), (7, 1), (8, 1), (9, 2), (12, 1), (13, 1)], words);

        var phrases = new MaskingLexicon([["children", "of", "israel"], ["went", "up"]]);
        var (p, _) = Masker(MaskingUnit.Phrase, phrases).Units(Sequence);
        Assert.Equal([(1, 1), (2, 4), (6, 2), (8, 1), (9, 2), (12, 1), (13, 1)], p);

        // "sinai moses" would span the [SEP]: units never cross a special token.
        var names = new MaskingLexicon([["Mount", "Sinai"], ["Moses"], ["sinai", "moses"]]);
        var (e, _) = Masker(MaskingUnit.Entity, names).Units(Sequence);
        Assert.Equal([(1, 1), (2, 1), (3, 1), (4, 2), (6, 1), (7, 1), (8, 3), (12, 1), (13, 1)], e);
    }

    [Fact]
    public void LongestUnitWinsAndMatchingResumesAfterIt()
    {
        var lexicon = new MaskingLexicon([["a", "b"], ["a", "b", "c"], ["c", "d"]]);
        Assert.Equal([(0, 3), (4, 2)], lexicon.Match(["a", "b", "c", "d", "c", "d"]));
        Assert.Equal(3, lexicon.MaxLength);
    }

    static int[] LongSequence(ulong seed)
    {
        // 120 tokens: "children of is ##rael" (a 4-token phrase) and "mount sin ##ai" among single words.
        var rng = new SplitMix64(seed);
        var ids = new List<int> { Vocab.ClsId };
        while (ids.Count < 120)
            ids.AddRange(rng.NextBelow(4) switch
            {
                0 => Ids("children of is ##rael"),
                1 => Ids("mount sin ##ai"),
                _ => Ids(new[] { "the", "went", "up", "moses", "said", "and", "to", "people" }[rng.NextBelow(8)]),
            });
        ids.Add(Vocab.SepId);
        return ids.ToArray();
    }

    [Theory]
    [InlineData(MaskingUnit.Token)]
    [InlineData(MaskingUnit.WholeWord)]
    [InlineData(MaskingUnit.Phrase)]
    [InlineData(MaskingUnit.Entity)]
    public void WholeUnitsAreMaskedAtTheSameRate(MaskingUnit unit)
    {
        var lexicon = unit == MaskingUnit.Phrase ? new MaskingLexicon([["children", "of", "israel"]])
            : unit == MaskingUnit.Entity ? new MaskingLexicon([["mount", "sinai"], ["moses"]]) : null;
        var masker = Masker(unit, lexicon);
        for (ulong seed = 0; seed < 40; seed++)
        {
            int[] tokens = LongSequence(seed);
            var (units, candidates) = masker.Units(tokens);
            var rng = new SplitMix64(seed);
            var mask = masker.Mask(tokens, ref rng);
            int expected = (int)Math.Round(candidates * 0.15, MidpointRounding.ToEven);
            Assert.Equal(expected, mask.Positions.Length); // single words are always there to fill the rate exactly
            var chosen = mask.Positions.ToHashSet();
            foreach (var (start, count) in units)
            {
                int inside = Enumerable.Range(start, count).Count(chosen.Contains);
                Assert.True(inside == 0 || inside == count, $"seed {seed}: unit ({start}, {count}) partly masked");
            }
            if (unit == MaskingUnit.Phrase) Assert.Contains(units, u => u.Count == 4);
            if (unit == MaskingUnit.Entity) Assert.Contains(units, u => u.Count == 3);
        }
    }

    [Fact]
    public void SameSeedSameMask()
    {
        var masker = Masker(MaskingUnit.Phrase, new MaskingLexicon([["children", "of", "israel"]]), prob: 0.3);
        int[] tokens = LongSequence(9);
        var a = new SplitMix64(5);
        var b = new SplitMix64(5);
        var c = new SplitMix64(6);
        var first = masker.Mask(tokens, ref a);
        var again = masker.Mask(tokens, ref b);
        Assert.Equal(first.Positions, again.Positions);
        Assert.Equal(first.Replacements, again.Replacements);
        Assert.NotEqual(first.Positions, masker.Mask(tokens, ref c).Positions);
    }

    [Fact]
    public void TokenAndWholeWordMatchTheClassicMasker()
    {
        int[] tokens = LongSequence(3);
        foreach (bool wholeWord in new[] { false, true })
        {
            var classic = new MlmMasker(Vocab, new MlmOptions(0.15, 100, wholeWord));
            var knowledge = Masker(wholeWord ? MaskingUnit.WholeWord : MaskingUnit.Token);
            var a = new SplitMix64(1);
            var b = new SplitMix64(1);
            Assert.Equal(classic.Mask(tokens, ref a).Positions, knowledge.Mask(tokens, ref b).Positions);
        }
    }

    [Fact]
    public void PhrasesAreWordsThatOccurTogetherFarMoreThanChance()
    {
        var rng = new SplitMix64(2);
        string[] filler = ["of", "the", "and", "to", "in", "that", "he", "it", "was", "for", "on", "his", "with", "they", "be", "at", "one", "have"];
        var lines = new List<string>();
        for (int i = 0; i < 400; i++)
        {
            var words = Enumerable.Range(0, 12).Select(_ => filler[rng.NextBelow((ulong)filler.Length)]).ToList();
            if (i % 10 == 0) words.Insert(5, "burnt offering");
            lines.Add(string.Join(' ', words) + ".");
        }
        var phrases = MaskingLexicon.Phrases(lines, minCount: 10, minPmi: 3);
        Assert.True(phrases.Contains(["burnt", "offering"]));
        Assert.False(phrases.Contains(["of", "the"]));
        Assert.DoesNotContain(phrases.Units, u => !u.Contains("burnt") && !u.Contains("offering"));
    }

    [Fact]
    public void EntitiesAreRunsOfWordsCapitalisedAwayFromSentenceStarts()
    {
        string[] lines =
        [
            "And Moses spake unto Aaron, and Jesus Christ answered.",
            "Then said Moses to the mount: Go up.",
            "And the mount was high; Aaron went up with Jesus Christ.",
            "And Moses saw Aaron in the mount of Jesus Christ.",
            "Then came Aaron Moses' brother.",
        ];
        var names = MaskingLexicon.Entities(lines, minCount: 2);
        Assert.Equal(["aaron", "jesus christ", "moses"], names.Units); // no "aaron moses": a possessive starts its own unit
    }

    [Fact]
    public void PreparedPhraseDataStoresItsUnitsAndMasksThemWhole()
    {
        using var dir = new TempDir();
        var rng = new SplitMix64(8);
        string[] filler = ["the", "went", "up", "mount", "moses", "said", "and", "to", "people"];
        string Doc(int d) => string.Join("\n", Enumerable.Range(0, 12).Select(s =>
        {
            var words = Enumerable.Range(0, 10).Select(_ => filler[rng.NextBelow((ulong)filler.Length)]).ToList();
            if (s % 6 == 0) words.Insert(2, "children of israel"); // 20 times in 1,260 words: PMI ≈ log 63 ≈ 4.1 per joined word
            return string.Join(' ', words);
        }));
        string train = dir.File("in/train.txt", string.Join("\n\f\n", Enumerable.Range(0, 10).Select(Doc)));
        string validation = dir.File("in/validation.txt", string.Join("\n\f\n", Enumerable.Range(0, 2).Select(Doc)));
        var corpus = Corpus.Load(new CorpusOptions(train, validation));
        var options = new BertDataOptions(MaxSeqLength: 32, DupeFactor: 2, Task: PairTask.None, Sentences: SentenceSplitting.Lines, Seed: 1)
        {
            Mlm = new MlmOptions(0.4, 20, true) { Unit = MaskingUnit.Phrase }, // a 4-token unit fits in a 40% budget of 10+ tokens
        };
        string output = dir.Sub("out");
        var result = BertPretrainingPreparer.Prepare(Vocab, corpus, options, new PrepareOptions(output));
        Assert.Equal(MaskingUnit.Phrase, result.Manifest.Options.Mlm.Unit);
        Assert.Contains("children of israel", File.ReadAllLines(System.IO.Path.Combine(output, KnowledgeMasker.UnitsFile)));

        var masker = Assert.IsType<KnowledgeMasker>(KnowledgeMasker.ForData(Vocab, BertDataManifest.Load(output).Options.Mlm, output));
        using var data = BertPretrainingDataset.Open(output, "train");
        int phrasesMasked = 0;
        for (long i = 0; i < data.Count; i++)
        {
            var instance = data[i];
            var chosen = instance.Mask.Positions.ToHashSet();
            foreach (var (start, count) in masker.Units(instance.Tokens).Units)
            {
                int inside = Enumerable.Range(start, count).Count(chosen.Contains);
                Assert.True(inside == 0 || inside == count, $"instance {i}: unit ({start}, {count}) partly masked");
                if (count == 4 && inside == 4) phrasesMasked++;
            }
        }
        Assert.True(phrasesMasked > 0);
    }

    [Fact]
    public void RunConfigNamesTheMaskingUnit()
    {
        Assert.Equal(MaskingUnit.Entity, new Ptm.Training.BertDataSpec { MaskingUnit = "entity" }.ToOptions("c.json").Mlm.Unit);
        Assert.True(new Ptm.Training.BertDataSpec { MaskingUnit = "whole-word" }.ToOptions("c.json").Mlm.WholeWordMasking);
        var e = Assert.Throws<InvalidInputException>(() => new Ptm.Training.BertDataSpec { MaskingUnit = "word" }.ToOptions("c.json"));
        Assert.Contains("c.json: field 'data.masking_unit' must be one of", e.Message);
    }
}
