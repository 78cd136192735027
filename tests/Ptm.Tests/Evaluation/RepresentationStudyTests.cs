using System.Globalization;
using Ptm.Evaluation.Representations;
using Ptm.FineTuning;
using Ptm.FineTuning.Baselines;
using Ptm.Modeling;
using Ptm.StaticVectors;
using Ptm.Tests.Library;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.Evaluation;

public class RocAucTests
{
    [Fact]
    public void MatchesAHandCountWithATie()
    {
        // Positives 0.9, 0.8, 0.5; negatives 0.8, 0.3. Positive-over-negative comparisons: 0.9>0.8, 0.9>0.3, 0.8=0.8 (½),
        // 0.8>0.3, 0.5<0.8, 0.5>0.3 → 4.5 of 6.
        double auc = RocAuc.Compute([0.9, 0.8, 0.8, 0.3, 0.5], [true, true, false, false, true]);
        Assert.Equal(0.75, auc);
    }

    [Fact]
    public void AllTiedIsExactlyOneHalfAndOrderingsGiveOneAndZero()
    {
        Assert.Equal(0.5, RocAuc.Compute([1.0, 1.0, 1.0, 1.0, 1.0], [true, false, false, true, false]));
        Assert.Equal(1.0, RocAuc.Compute([3.0, 2.0, 1.0, 0.0], [true, true, false, false]));
        Assert.Equal(0.0, RocAuc.Compute([3.0, 2.0, 1.0, 0.0], [false, false, true, true]));
        Assert.Throws<ArgumentException>(() => RocAuc.Compute([1.0, 2.0], [true, true]));
    }
}

public class SenseSeparationTests
{
    static WordVectors Vectors(params string[] words)
    {
        var rng = new Random(3);
        const int dim = 8;
        return new WordVectors(words, Enumerable.Range(0, words.Length * dim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), dim);
    }

    /// <summary>A planted "contextual" representation: layer 0 is the static vector, layer 1 the static vector plus the
    /// previous word's, so a word's vector depends on its left neighbour.</summary>
    sealed class PreviousWordContext(StaticLayers inner) : ILayeredRepresentation
    {
        public string Name => "context";
        public IReadOnlyList<string> LayerNames { get; } = ["static", "with previous word"];

        public LayeredTokens Encode(string text)
        {
            var t = inner.Encode(text);
            var own = t.Vectors[0];
            var mixed = own.Select((v, i) => v is null || i == 0 || own[i - 1] is null ? v
                : v.Zip(own[i - 1]!, (a, b) => a + b).ToArray()).ToArray();
            return new LayeredTokens(t.Spans, [own, mixed]);
        }
    }

    static SenseUsage Usage(string word, string synset, string text) =>
        new(word, synset[..synset.IndexOf(':')], synset, text, SenseDataset.Locate(word, text)!.Value);

    [Fact]
    public void ContextSeparatesPlantedSensesAndStaticVectorsStayAtExactlyChance()
    {
        var data = SenseDataset.Build(
        [
            Usage("bank", "noun:1", "the river bank"), Usage("bank", "noun:1", "a muddy river bank flooded"),
            Usage("bank", "noun:1", "River bank, at dawn"),
            Usage("bank", "noun:2", "my money bank closed"), Usage("bank", "noun:2", "the money bank"),
            Usage("spring", "noun:3", "the hot spring"), Usage("spring", "noun:4", "the coiled spring"),
            Usage("spring", "noun:4", "a coiled spring"),
            Usage("shoal", "noun:5", "a sandy shoal"), Usage("shoal", "noun:6", "a shoal of fish"),
        ]);
        Assert.Equal(3 + 1 + 1, data.SameCount);
        Assert.Equal(6 + 2 + 1, data.DifferentCount);
        string[] words = ["the", "river", "bank", "a", "muddy", "flooded", "at", "dawn", "my", "money", "closed", "hot", "spring", "coiled"];
        var w2v = new StaticLayers(Vectors(words), "static");
        // The contextual model also knows "shoal": its pair counts for it alone, and is left out of the common pairs.
        var context = new PreviousWordContext(new StaticLayers(Vectors([.. words, "shoal", "sandy", "of", "fish"]), "inner"));
        var results = SenseSeparation.Compare([w2v, context], data);

        Assert.Equal(data.Pairs.Count - 1, results[0].Own[0].Same + results[0].Own[0].Different);
        Assert.Equal(data.Pairs.Count, results[1].Own[1].Same + results[1].Own[1].Different);
        Assert.Equal(data.Pairs.Count - 1, results[1].Common[1].Same + results[1].Common[1].Different);
        Assert.Equal(8, results[0].CoveredUsages);
        Assert.Equal(0.5, results[0].Own[0].Auc);                      // one vector per word: every cosine is 1
        Assert.Equal(1.0, results[0].Own[0].MeanSame);
        Assert.Equal(1.0, results[0].Own[0].MeanDifferent);
        Assert.Equal(0.5, results[1].Common[0].Auc);
        Assert.Equal(1.0, results[1].Common[1].Auc);                   // the left neighbour tells the senses apart
        Assert.Equal(1.0, results[1].Own[1].Auc);
    }

    [Fact]
    public void PairsAreEverySameWordPairLabelledBySynset()
    {
        var data = SenseDataset.Build(
        [
            Usage("bank", "noun:1", "the river bank"), Usage("bank", "noun:2", "the money bank"),
            Usage("bank", "verb:9", "bank the fire"), Usage("bank", "noun:1", "a river bank"),
            Usage("bank", "noun:2", "the river bank"),                  // same sentence as the first: left out
        ]);
        Assert.Equal(1, data.Words);
        Assert.Equal(1, data.IdenticalTexts);
        Assert.Equal([(0, 1, false), (0, 3, true), (1, 3, false), (1, 4, true), (3, 4, false)],
            data.Pairs.Select(p => (p.First, p.Second, p.SameSense)));
    }

    [Fact]
    public void ShippedWordNetSensesGiveTheDocumentedPairs()
    {
        // Counted independently (Python over the same CSV files and rules).
        var data = SenseDataset.Load(Path.Combine(Ptm.Tests.Data.DataFixtures.FindRepoRoot(), "data", "tasks", "wordnet-senses"));
        Assert.Equal(3797, data.Usages.Count);
        Assert.Equal(601, data.Words);
        Assert.Equal(183, data.SameCount);
        Assert.Equal(1268, data.DifferentCount);
        Assert.Equal(2, data.IdenticalTexts);
        Assert.All(data.Usages, u => Assert.Equal(u.Word, u.Text[u.Target.Start..u.Target.End].ToLowerInvariant()));
    }
}

public class LayerProviderTests
{
    static readonly string[] Corpus = LibraryTestModels.Corpus;

    static float[] ManualMean(Tensor state, IEnumerable<int> positions)
    {
        var rows = positions.Select(p => state[p].data<float>().ToArray()).ToList();
        Assert.True(rows.Count >= 2, "the test word should split into several pieces");
        return Enumerable.Range(0, rows[0].Length).Select(i => (float)(rows.Sum(r => (double)r[i]) / rows.Count)).ToArray();
    }

    static void AssertClose(float[] expected, float[]? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Length, actual!.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 6);
    }

    [Fact]
    public void BertLayersGiveThePieceMeanOfEveryHiddenState()
    {
        manual_seed(5);
        var wp = WordPieceTokenizer.Train(Corpus, 60, true);
        using var bert = new BertModel(new BertConfig { VocabSize = wp.VocabSize, HiddenSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 48 });
        var layers = new BertLayers(bert, wp);
        const string text = "And God saw the firmament, and it was good.";
        var target = SenseDataset.Locate("firmament", text)!.Value;
        var tokens = layers.Encode(text);
        Assert.Equal(3, tokens.Vectors.Count);                       // embeddings + 2 blocks

        bert.eval();
        var enc = wp.EncodePair(text, null, 48);
        var pieces = Enumerable.Range(0, enc.Length).Where(t => !enc.SpecialTokensMask[t] && enc.Offsets[t].Start < target.End && enc.Offsets[t].End > target.Start).ToList();
        using var _ = no_grad();
        long T = enc.Length;
        var states = bert.HiddenStates(new BertInputs(tensor(enc.InputIds.Select(i => (long)i).ToArray(), 1, T),
            zeros(1, T, ScalarType.Int64), ones(1, T, ScalarType.Int64)));
        for (int l = 0; l < 3; l++) AssertClose(ManualMean(states[l][0], pieces), tokens.WordVector(l, target));
        Assert.Equal(enc.Length - 2, tokens.Spans.Count);             // [CLS] and [SEP] left out

        // Bidirectional: a change after the word changes its top-layer vector.
        var other = layers.Encode("And God saw the firmament, and it was light.");
        Assert.NotEqual(tokens.WordVector(2, target), other.WordVector(2, target));
    }

    [Fact]
    public void GptLayersGiveThePieceMeanAfterTheSeparatorAndAreCausal()
    {
        manual_seed(6);
        var bpe = ByteLevelBpeTokenizer.Train(Corpus, 280, [ByteLevelBpeTokenizer.EndOfText]);
        using var gpt = new Gpt(new GptConfig { VocabSize = bpe.VocabSize, NPositions = 32, NEmbd = 16, NLayer = 2, NHead = 2, InitializerRange = 0.2 });
        var layers = new GptLayers(gpt, bpe);
        const string text = "God saw the firmament and it was good";
        var target = SenseDataset.Locate("firmament", text)!.Value;
        var tokens = layers.Encode(text);
        Assert.Equal(3, tokens.Vectors.Count);

        gpt.eval();
        var (ids, offsets) = bpe.EncodeWithOffsets(text);
        var input = new long[] { bpe.EndOfTextId!.Value }.Concat(ids.Select(i => (long)i)).ToArray();
        var pieces = Enumerable.Range(0, ids.Length).Where(t => offsets[t].Start < target.End && offsets[t].End > target.Start).Select(t => t + 1).ToList();
        using var _ = no_grad();
        var x = tensor(input, 1, input.Length);
        var states = gpt.Transformer.HiddenStates(x);
        Assert.True(states[^1].eq(gpt.Hidden(x)).all().item<bool>());                // the last state is what the LM head reads
        var wte = gpt.Transformer.wte.forward(x)[0];
        Assert.True(states[0][0].allclose(wte + gpt.get_parameter("transformer.wpe.weight")!.narrow(0, 0, input.Length), 0, 1e-6));
        for (int l = 0; l < 3; l++) AssertClose(ManualMean(states[l][0], pieces), tokens.WordVector(l, target));

        // Causal: a change after the word leaves every layer's vector of it unchanged.
        var other = layers.Encode("God saw the firmament and it was light");
        for (int l = 0; l < 3; l++) Assert.Equal(tokens.WordVector(l, target), other.WordVector(l, target));
    }

    [Fact]
    public void ElmoLayersGiveEachWordsBiLmStatesWithTheForwardHalfCausal()
    {
        manual_seed(8);
        using var elmo = new ElmoBiLm(new ElmoConfig
        {
            VocabSize = 12, MaxCharactersPerToken = 12, CharEmbeddingDim = 4, Filters = [[1, 3], [2, 4]], NHighway = 1,
            ProjectionDim = 6, LstmDim = 5, NLayers = 2, Dropout = 0,
        });
        elmo.eval();
        var layers = new ElmoLayers(elmo, "elmo");
        const string text = "And God saw the firmament, and it was good.";
        var target = SenseDataset.Locate("firmament", text)!.Value;
        var tokens = layers.Encode(text);
        Assert.Equal(3, tokens.Vectors.Count);                       // char-CNN + 2 LSTM layers
        string[] words = ["And", "God", "saw", "the", "firmament", ",", "and", "it", "was", "good", "."];
        Assert.Equal(words.Length, tokens.Spans.Count);                // punctuation kept, as the biLM reads it
        Assert.Equal(text.IndexOf("firmament", StringComparison.Ordinal), tokens.Spans[4].Start);

        // Independently: character ids of <S> words </S> through the biLM; word w is position w + 1.
        string[] all = [ElmoVocabulary.BeginSentence, .. words, ElmoVocabulary.EndSentence];
        int L = 12;
        var chars = new long[all.Length * L];
        var row = new int[L];
        for (int t = 0; t < all.Length; t++)
        {
            ElmoVocabulary.CharIds(all[t], row);
            for (int i = 0; i < L; i++) chars[t * L + i] = row[i];
        }
        using var _ = no_grad();
        var states = elmo.Layers(tensor(chars, 1, all.Length, L), tensor(new long[] { all.Length }));   // (3, 1, T, 12)
        for (int l = 0; l < 3; l++) AssertClose(states[l, 0, 5].data<float>().ToArray(), tokens.WordVector(l, target));
        var v0 = tokens.WordVector(0, target)!;
        Assert.Equal(v0[..6], v0[6..]);                                 // layer 0 is the token vector for both directions

        // A change after the word leaves the forward half of every LSTM layer unchanged and moves the backward half.
        var other = layers.Encode("And God saw the firmament, and it was light.");
        for (int l = 1; l < 3; l++)
        {
            float[] a = tokens.WordVector(l, target)!, b = other.WordVector(l, target)!;
            Assert.Equal(a[..6], b[..6]);
            Assert.NotEqual(a[6..], b[6..]);
        }
    }

    [Fact]
    public void StaticLayersGiveOneVectorPerWordAndNoneOutsideTheVocabulary()
    {
        var vectors = new WordVectors(["light", "good"], [1, 2, 3, 4], 2);
        var tokens = new StaticLayers(vectors, "w").Encode("Light, un-good; dark");
        Assert.Equal([new CharSpan(0, 5), new CharSpan(7, 9), new CharSpan(10, 14), new CharSpan(16, 20)], tokens.Spans);
        Assert.Equal([1f, 2f], tokens.WordVector(0, new CharSpan(0, 5))!);
        Assert.Null(tokens.WordVector(0, new CharSpan(7, 14)));        // "un" is unknown: the word is not covered
        Assert.Equal([2f, 3f], tokens.TextVector(0)!);                  // mean of light and good
    }
}

public class LinearProbeTests
{
    /// <summary>A text of numbers "a b" is one token whose layer-0 vector is (a, b); layer 1 is the same constant for
    /// every text.</summary>
    sealed class Numbers : ILayeredRepresentation
    {
        public string Name => "numbers";
        public IReadOnlyList<string> LayerNames { get; } = ["values", "constant"];

        public LayeredTokens Encode(string text)
        {
            var v = text.Split(' ').Select(s => float.Parse(s, CultureInfo.InvariantCulture)).ToArray();
            return new LayeredTokens([new CharSpan(0, text.Length)], [[v], [[1f, 1f]]]);
        }
    }

    static TaskData Planted(int n, int seed)
    {
        var rng = new Random(seed);
        var rows = new List<(string, string)>();
        while (rows.Count < n)
        {
            double a = rng.NextDouble() * 4 - 2, b = rng.NextDouble() * 4 - 2, s = a - 0.5 * b;
            if (Math.Abs(s) < 0.2) continue;                         // a margin: linearly separable
            rows.Add((FormattableString.Invariant($"{a:R} {b:R}"), s > 0 ? "right" : "left"));
        }
        return TaskData.Classification(rows);
    }

    [Fact]
    public void ALinearlySeparablePlantedSetIsProbedPerfectlyAndAConstantLayerIsNot()
    {
        var report = LinearProbe.Run(new Numbers(), Planted(200, 1), Planted(60, 2), Planted(100, 3));
        Assert.Equal(1.0, report.Layers[0].TestAccuracy);
        Assert.Equal(1.0, report.Layers[0].ValidationAccuracy);
        Assert.True(report.Layers[1].TestAccuracy < 0.8, $"a constant feature cannot separate the classes ({report.Layers[1].TestAccuracy})");
        Assert.Equal(0, report.Uncovered);
    }

    [Fact]
    public void TheDenseFitMinimisesTheSameObjectiveAsTheClassicBaseline()
    {
        var rng = new Random(4);
        double[][] rows = Enumerable.Range(0, 40).Select(_ => Enumerable.Range(0, 5).Select(_ => rng.NextDouble() * 2 - 1).ToArray()).ToArray();
        int[] labels = rows.Select(r => r[0] + r[1] > 0.3 ? 2 : r[2] > 0 ? 1 : 0).ToArray();
        var sparse = new SparseRows(5);
        foreach (var r in rows) sparse.AddRow(r.Select((v, i) => (i, v)));
        var (reference, _) = ClassicBaseline.Fit(new LinearProblem(sparse, LinearLoss.Softmax, 3, labels.Select(l => (double)l).ToList()), 0.01);
        var (w, b) = LinearProbe.DenseSoftmax.Fit(rows, labels, 3, 0.01, null);
        for (int i = 0; i < 5; i++)
            for (int o = 0; o < 3; o++) Assert.Equal(reference.Weight(i, o), w[i * 3 + o], 5);
        for (int o = 0; o < 3; o++) Assert.Equal(reference.Bias(o), b[o], 5);
    }
}
