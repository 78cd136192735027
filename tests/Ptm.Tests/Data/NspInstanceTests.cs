using Ptm.Data;

namespace Ptm.Tests.Data;

public class NspInstanceTests
{
    static readonly MlmFakeVocabulary Vocab = new(65000);

    /// <summary>
    /// Documents of 1-40 sentences of 3-15 tokens; every token id is unique and ids increase through the corpus, so
    /// <paramref name="docOf"/> tells which document a token came from and id order is text order.
    /// </summary>
    static List<int[][]> Corpus(int documents, ulong seed, out int[] docOf, int maxSentences = 40)
    {
        var rng = new SplitMix64(seed);
        var owner = new List<int>();
        var result = new List<int[][]>();
        int next = MlmFakeVocabulary.FirstWord;
        for (int d = 0; d < documents; d++)
        {
            var sentences = new int[1 + (int)rng.NextBelow((ulong)maxSentences)][];
            for (int s = 0; s < sentences.Length; s++)
            {
                sentences[s] = new int[3 + (int)rng.NextBelow(13)];
                for (int t = 0; t < sentences[s].Length; t++) { sentences[s][t] = next++; owner.Add(d); }
            }
            result.Add(sentences);
        }
        docOf = new int[next];
        for (int i = 0; i < owner.Count; i++) docOf[MlmFakeVocabulary.FirstWord + i] = owner[i];
        return result;
    }

    static (int[] A, int[] B) Segments(BertInstance x)
    {
        Assert.Equal(MlmFakeVocabulary.Cls, x.Tokens[0]);
        Assert.Equal(MlmFakeVocabulary.Sep, x.Tokens[x.SegmentBStart - 1]);
        Assert.Equal(MlmFakeVocabulary.Sep, x.Tokens[^1]);
        return (x.Tokens[1..(x.SegmentBStart - 1)], x.Tokens[x.SegmentBStart..^1]);
    }

    static List<BertInstance> Create(IReadOnlyList<int[][]> docs, BertDataOptions options, ulong seed = 1)
    {
        var rng = new SplitMix64(seed);
        return BertPretrainingInstances.Create(docs, Vocab, options, ref rng);
    }

    [Fact]
    public void NspLabelsAreBalancedAndRandomNextIsNeverFromTheSameDocument()
    {
        // Google's algorithm leans towards label 1: a chunk of one sentence (at a document's end, or under a short
        // target) always takes a random B. Measured: 56% for documents of ~20 sentences, 52% for ~300 (like KJV
        // books, used here), 50.0% for ~300 with ShortSeqProb 0.
        var docs = Corpus(150, 2, out int[] docOf, maxSentences: 600);
        var instances = Create(docs, new BertDataOptions(DupeFactor: 2, ShortSeqProb: 0));
        Assert.True(instances.Count > 1000, $"{instances.Count} instances");
        double random = instances.Count(x => x.PairLabel == 1) / (double)instances.Count;
        Assert.InRange(random, 0.47, 0.53);
        var defaults = Create(docs, new BertDataOptions(DupeFactor: 2));
        Assert.InRange(defaults.Count(x => x.PairLabel == 1) / (double)defaults.Count, 0.47, 0.56);
        instances.AddRange(defaults);
        foreach (BertInstance x in instances)
        {
            var (a, b) = Segments(x);
            Assert.NotEmpty(a);
            Assert.NotEmpty(b);
            int docA = docOf[a[0]];
            Assert.All(a, t => Assert.Equal(docA, docOf[t]));
            int docB = docOf[b[0]];
            Assert.All(b, t => Assert.Equal(docB, docOf[t]));
            if (x.PairLabel == 1) Assert.NotEqual(docA, docB);
            else
            {
                Assert.Equal(docA, docB);
                Assert.True(a.Max() < b.Min(), "actual next: B follows A");
            }
        }
    }

    [Fact]
    public void MaxLengthIsRespectedAndShortSeqProbMakesSomeShort()
    {
        var docs = Corpus(100, 3, out _);
        var full = Create(docs, new BertDataOptions(MaxSeqLength: 64, ShortSeqProb: 0));
        var mixed = Create(docs, new BertDataOptions(MaxSeqLength: 64, ShortSeqProb: 0.5));
        Assert.All(full.Concat(mixed), x => Assert.InRange(x.Length, 5, 64));
        // Without short targets a chunk ends only at the target (61 content tokens) or at a document's end.
        double ShortShare(List<BertInstance> xs) => xs.Count(x => x.Length < 40) / (double)xs.Count;
        Assert.True(ShortShare(mixed) > ShortShare(full) + 0.1, $"short share {ShortShare(mixed):F3} vs {ShortShare(full):F3}");
    }

    [Fact]
    public void HandMadeExampleHasExactLayoutAndSegmentIds()
    {
        BertInstance x = BertPretrainingInstances.Pair([10, 11, 12], [20, 21], 0, Vocab);
        Assert.Equal([2, 10, 11, 12, 3, 20, 21, 3], x.Tokens);
        Assert.Equal([0, 0, 0, 0, 0, 1, 1, 1], Enumerable.Range(0, 8).Select(x.TokenType));

        // Two one-sentence... a document of two sentences that fits: A = first, B = second (label 0), or B random (label 1).
        var docs = new List<int[][]> { new[] { new[] { 10, 11 }, new[] { 12, 13, 14 } }, new[] { new[] { 30, 31, 32, 33 } } };
        var seen = new HashSet<string>();
        for (ulong seed = 0; seed < 40; seed++)
            foreach (BertInstance y in Create(docs, new BertDataOptions(MaxSeqLength: 32, ShortSeqProb: 0, DupeFactor: 1), seed))
                seen.Add(string.Join(' ', y.Tokens) + " | " + y.SegmentBStart + " | " + y.PairLabel);
        Assert.Contains("2 10 11 3 12 13 14 3 | 4 | 0", seen);
        Assert.Contains("2 10 11 3 30 31 32 33 3 | 4 | 1", seen);
        Assert.Contains("2 30 31 32 33 3 10 11 12 13 14 3 | 6 | 1", seen); // single-sentence doc: B is the random document, all of it
    }

    [Fact]
    public void TruncateSeqPairCutsTheLongerSideFromEitherEnd()
    {
        var rng = new SplitMix64(0);
        var a = Enumerable.Range(0, 10).ToList();
        var b = Enumerable.Range(100, 3).ToList();
        BertPretrainingInstances.TruncateSeqPair(a, b, 8, ref rng);
        Assert.Equal(5, a.Count);
        Assert.Equal([100, 101, 102], b);
        Assert.Equal(Enumerable.Range(a[0], 5), a); // a contiguous run of the original

        // Ties cut B first: (5,5) → (5,4) → (4,4) → (4,3) → (3,3).
        a = [1, 2, 3, 4, 5];
        b = [6, 7, 8, 9, 10];
        BertPretrainingInstances.TruncateSeqPair(a, b, 6, ref rng);
        Assert.Equal((3, 3), (a.Count, b.Count));

        // Over many draws both ends get cut.
        int frontCuts = 0, backCuts = 0;
        for (int i = 0; i < 200; i++)
        {
            var x = Enumerable.Range(0, 4).ToList();
            BertPretrainingInstances.TruncateSeqPair(x, [], 3, ref rng);
            if (x[0] == 1) frontCuts++; else backCuts++;
        }
        Assert.InRange(frontCuts, 70, 130);
        Assert.Equal(200, frontCuts + backCuts);

        var fits = new List<int> { 1 };
        BertPretrainingInstances.TruncateSeqPair(fits, [2], 2, ref rng);
        Assert.Equal([1], fits);
    }

    [Fact]
    public void SingleSentenceDocumentsGetARandomBAndEmptyDocumentsAreDropped()
    {
        var docs = new List<int[][]>
        {
            new[] { new[] { 10, 11, 12 } },
            new int[][] { [], [] },
            new[] { new[] { 20, 21 }, new[] { 22 }, new[] { 23, 24 } },
            new[] { new[] { 30 } },
        };
        var instances = Create(docs, new BertDataOptions(MaxSeqLength: 16, DupeFactor: 3));
        Assert.All(instances.Where(x => x.Tokens[1] is 10 or 30), x => Assert.Equal(1, x.PairLabel));
        Assert.Equal(3, instances.Count(x => x.Tokens[1] == 10)); // one per pass
        Assert.Equal(3, instances.Count(x => x.Tokens[1] == 30));
        Assert.Contains(instances, x => x.Tokens.Skip(x.SegmentBStart).Contains(10) || x.Tokens.Skip(x.SegmentBStart).Contains(30));
    }

    [Fact]
    public void FewerThanTwoDocumentsIsAClearError()
    {
        var one = new List<int[][]> { new[] { new[] { 10, 11 }, new[] { 12 } }, new int[][] { [] } };
        var e = Assert.Throws<InvalidInputException>(() => Create(one, new BertDataOptions()));
        Assert.Contains("at least 2 non-empty documents", e.Message);
        Assert.Contains("got 1", e.Message);
        Assert.Single(Create(one, new BertDataOptions(Task: PairTask.None, DupeFactor: 1))); // packing needs no second document
    }

    [Fact]
    public void SopKeepsTheDocumentAndSwapsOrderForLabelOne()
    {
        var docs = Corpus(200, 4, out int[] docOf);
        var instances = Create(docs, new BertDataOptions(Task: PairTask.Sop, DupeFactor: 2));
        int swapped = 0, inOrder = 0;
        foreach (BertInstance x in instances)
        {
            var (a, b) = Segments(x);
            if (docOf[a[0]] != docOf[b[0]]) { Assert.Equal(1, x.PairLabel); continue; } // a single-sentence chunk (ALBERT: random B)
            if (x.PairLabel == 0) { Assert.True(a.Max() < b.Min()); inOrder++; }
            else { Assert.True(a.Min() > b.Max()); swapped++; }
        }
        Assert.InRange(swapped / (double)(swapped + inOrder), 0.45, 0.55);
    }

    [Fact]
    public void NspFalsePacksSentencesAcrossDocumentsWithSeparators()
    {
        var docs = new List<int[][]>
        {
            new[] { new[] { 10, 11, 12 }, new[] { 13, 14 } },
            new[] { new[] { 20, 21 } },
            new[] { new[] { 30, 31, 32, 33, 34, 35, 36, 37, 38, 39 } },
            new[] { new[] { 40 } },
        };
        var packed = BertPretrainingInstances.Pack(docs, Vocab, maxSeqLength: 10);
        Assert.Equal(
            [
                "2 10 11 12 13 14 3 20 21 3",   // 8 content tokens fit the budget of 8, a [SEP] between documents
                "2 30 31 32 33 34 35 36 37 3",  // a sentence longer than a sequence is cut, not dropped
                "2 38 39 3 40 3",
            ],
            packed.Select(x => string.Join(' ', x.Tokens)));
        Assert.All(packed, x => Assert.Equal(BertInstance.NoPairLabel, x.PairLabel));
        Assert.All(packed, x => Assert.Equal(x.Length, x.SegmentBStart)); // token types all 0
        Assert.Equal(2 * packed.Count, Create(docs, new BertDataOptions(MaxSeqLength: 10, DupeFactor: 2, Task: PairTask.None)).Count);
    }

    [Fact]
    public void SentencesSplitAtLinesAndSentencePunctuation()
    {
        const string text = "Genesis\n\n  In the beginning. And then! Who? no split. e.g. this\nLast line 3.14 here.\n";
        Assert.Equal(["Genesis", "In the beginning. And then! Who? no split. e.g. this", "Last line 3.14 here."],
            SentenceSplitter.Split(text, SentenceSplitting.Lines));
        Assert.Equal(["Genesis", "In the beginning.", "And then!", "Who? no split. e.g. this", "Last line 3.14 here."],
            SentenceSplitter.Split(text, SentenceSplitting.Punctuation));
    }
}
