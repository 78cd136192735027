using System.Text;
using Ptm.Data;
using Ptm.StaticVectors;
using Ptm.Tests.Cli;

namespace Ptm.Tests.StaticVectors;

public class StaticVectorObjectiveTests
{
    static double[] RandomVector(ref SplitMix64 rng, int n, double scale)
    {
        var v = new double[n];
        for (int i = 0; i < n; i++) v[i] = ((rng.Next() >> 11) * (1.0 / (1UL << 53)) - 0.5) * 2 * scale;
        return v;
    }

    static double Softplus(double x) => Math.Log(1 + Math.Exp(x));
    static double Dot(double[] a, double[] b) => a.Zip(b, (x, y) => x * y).Sum();

    /// <summary>Skip-gram loss of one example written out independently: −log σ(v·u₀) − Σₖ log σ(−v·uₖ).</summary>
    static double ExampleLoss(double[] v, double[][] u) => Softplus(-Dot(v, u[0])) + u.Skip(1).Sum(uk => Softplus(Dot(v, uk)));

    [Fact]
    public void SkipGramStepMovesEveryVectorAlongTheExactGradient()
    {
        var rng = new SplitMix64(7);
        const int dim = 7;
        double[] v = RandomVector(ref rng, dim, 0.8);
        double[][] u = Enumerable.Range(0, 4).Select(_ => RandomVector(ref rng, dim, 0.8)).ToArray(); // u[0] positive, u[1..] noise
        double[][] before = u.Select(x => x.ToArray()).ToArray();
        double expectedLoss = ExampleLoss(v, u);

        // The trainer's update with learning rate lr: each output vector moves by −lr·∂L/∂u, the input gradient is summed.
        const double lr = 0.5;
        var inputGradient = new double[dim];
        double loss = 0;
        for (int k = 0; k < u.Length; k++)
            loss += SkipGramObjective.Step<double>(v, u[k], k == 0, lr, inputGradient);
        Assert.Equal(expectedLoss, loss, 12);

        const double eps = 1e-6;
        for (int d = 0; d < dim; d++)
        {
            double[] plus = v.ToArray(), minus = v.ToArray();
            plus[d] += eps; minus[d] -= eps;
            double fd = (ExampleLoss(plus, before) - ExampleLoss(minus, before)) / (2 * eps);
            Assert.True(Math.Abs(fd - inputGradient[d]) < 1e-8, $"input[{d}]: finite difference {fd}, analytic {inputGradient[d]}");
        }
        for (int k = 0; k < u.Length; k++)
            for (int d = 0; d < dim; d++)
            {
                double[][] plus = before.Select(x => x.ToArray()).ToArray(), minus = before.Select(x => x.ToArray()).ToArray();
                plus[k][d] += eps; minus[k][d] -= eps;
                double fd = (ExampleLoss(v, plus) - ExampleLoss(v, minus)) / (2 * eps);
                double analytic = (before[k][d] - u[k][d]) / lr;
                Assert.True(Math.Abs(fd - analytic) < 1e-8, $"output {k}[{d}]: finite difference {fd}, analytic {analytic}");
            }
    }

    [Fact]
    public void SkipGramLossStaysFiniteForLargeScores()
    {
        double[] v = [40, 0], u = [40, 0];
        Assert.Equal(1600, SkipGramObjective.Loss<double>(v, u, positive: false), 9);
        Assert.Equal(0, SkipGramObjective.Loss<double>(v, u, positive: true), 12);
        Assert.Equal(0, SkipGramObjective.Sigmoid(-800.0));
        Assert.Equal(1, SkipGramObjective.Sigmoid(800.0));
    }

    /// <summary>GloVe's J = ½ f(x) (w·c + b + b̃ − log x)² written out independently.</summary>
    static double GloveLoss(double[] w, double[] c, double bw, double bc, double x) =>
        0.5 * (x < 10 ? Math.Pow(x / 10, 0.75) : 1) * Math.Pow(Dot(w, c) + bw + bc - Math.Log(x), 2);

    [Theory]
    [InlineData(3.7)]
    [InlineData(0.25)]
    [InlineData(42.0)]
    public void GloveGradientMatchesFiniteDifferences(double x)
    {
        var rng = new SplitMix64(11);
        const int dim = 6;
        double[] w = RandomVector(ref rng, dim, 1), c = RandomVector(ref rng, dim, 1);
        double bw = 0.3, bc = -0.7;
        var gw = new double[dim];
        var gc = new double[dim];
        double loss = GloveObjective.LossAndGradient<double>(w, c, bw, bc, x, 10.0, 0.75, gw, gc, out double gb);
        Assert.Equal(GloveLoss(w, c, bw, bc, x), loss, 12);

        const double eps = 1e-6;
        for (int d = 0; d < dim; d++)
        {
            double[] wp = w.ToArray(), wm = w.ToArray(), cp = c.ToArray(), cm = c.ToArray();
            wp[d] += eps; wm[d] -= eps; cp[d] += eps; cm[d] -= eps;
            double fdw = (GloveLoss(wp, c, bw, bc, x) - GloveLoss(wm, c, bw, bc, x)) / (2 * eps);
            double fdc = (GloveLoss(w, cp, bw, bc, x) - GloveLoss(w, cm, bw, bc, x)) / (2 * eps);
            Assert.True(Math.Abs(fdw - gw[d]) < 1e-7, $"w[{d}]: finite difference {fdw}, analytic {gw[d]}");
            Assert.True(Math.Abs(fdc - gc[d]) < 1e-7, $"c[{d}]: finite difference {fdc}, analytic {gc[d]}");
        }
        double fdb = (GloveLoss(w, c, bw + eps, bc, x) - GloveLoss(w, c, bw - eps, bc, x)) / (2 * eps);
        double fdb2 = (GloveLoss(w, c, bw, bc + eps, x) - GloveLoss(w, c, bw, bc - eps, x)) / (2 * eps);
        Assert.True(Math.Abs(fdb - gb) < 1e-7 && Math.Abs(fdb2 - gb) < 1e-7, $"bias: finite differences {fdb}, {fdb2}, analytic {gb}");
    }

    [Fact]
    public void GloveWeightIsCappedPowerLaw()
    {
        Assert.Equal(Math.Pow(0.5, 0.75), GloveObjective.Weight(5.0, 10.0, 0.75), 15);
        Assert.Equal(1.0, GloveObjective.Weight(10.0, 10.0, 0.75));
        Assert.Equal(1.0, GloveObjective.Weight(1e6, 10.0, 0.75));
    }

    [Fact]
    public void NoiseTableFollowsUnigramToTheThreeQuarters()
    {
        long[] counts = [1000, 100, 10, 1];
        int[] table = Word2Vec.NoiseTable(counts);
        double norm = counts.Sum(c => Math.Pow(c, 0.75));
        for (int w = 0; w < counts.Length; w++)
        {
            double share = table.Count(t => t == w) / (double)table.Length;
            Assert.True(Math.Abs(share - Math.Pow(counts[w], 0.75) / norm) < 1e-5, $"word {w}: share {share}");
        }
    }

    [Fact]
    public void SubsamplingKeepsWordsAsWord2VecDoes()
    {
        double[] keep = Word2Vec.KeepProbabilities([1000, 10], 1010, 1e-3);
        double t = 1e-3 * 1010;
        Assert.Equal((Math.Sqrt(1000 / t) + 1) * t / 1000, keep[0], 15); // ≈ 0.033: the frequent word is mostly dropped
        Assert.Equal((Math.Sqrt(10 / t) + 1) * t / 10, keep[1], 15); // ≈ 0.42
        Assert.True(Word2Vec.KeepProbabilities([1000, 1], 1001, 1e-3)[1] > 1); // a word seen once is always kept
        Assert.All(Word2Vec.KeepProbabilities([1000, 10], 1010, 0), k => Assert.Equal(1, k));
    }
}

public class PlantedStructureTests
{
    /// <summary>Two disjoint groups of eight words; each sentence uses one group only, so words co-occur only within their group.</summary>
    static WordCorpus TwoGroups(int sentences, ulong seed)
    {
        string[] words = Enumerable.Range(0, 16).Select(i => (i < 8 ? "a" : "b") + (i % 8)).ToArray();
        var rng = new SplitMix64(seed);
        var list = new List<int[]>();
        for (int s = 0; s < sentences; s++)
        {
            int group = (int)rng.NextBelow(2) * 8;
            list.Add(Enumerable.Range(0, 10).Select(_ => group + (int)rng.NextBelow(8)).ToArray());
        }
        return WordCorpus.FromIds(words, list);
    }

    static (double Within, double Across) MeanCosines(WordVectors v)
    {
        double within = 0, across = 0;
        int nw = 0, na = 0;
        for (int i = 0; i < 16; i++)
            for (int j = i + 1; j < 16; j++)
            {
                double c = Embeddings.VectorSimilarity.Cosine(v[i], v[j]);
                if (i / 8 == j / 8) { within += c; nw++; } else { across += c; na++; }
            }
        return (within / nw, across / na);
    }

    [Fact]
    public void Word2VecSeparatesWordsThatNeverShareContexts()
    {
        var corpus = TwoGroups(400, 3);
        var options = new Word2VecOptions { Dimension = 16, Window = 3, Negative = 3, Sample = 0, Epochs = 5, Seed = 5 };
        var vectors = Word2Vec.Train(corpus, options);
        var (within, across) = MeanCosines(vectors);
        Assert.True(within - across > 0.5, $"within-group cosine {within:F3}, across-group {across:F3}");
        // The same seed gives the same vectors, bit for bit.
        var again = Word2Vec.Train(corpus, options);
        for (int i = 0; i < vectors.Count; i++) Assert.True(vectors[i].SequenceEqual(again[i]));
    }

    [Fact]
    public void GloveSeparatesWordsThatNeverShareContexts()
    {
        var corpus = TwoGroups(400, 4);
        var vectors = Glove.Train(corpus, new GloveOptions { Dimension = 16, Window = 3, Epochs = 30, Seed = 5 });
        var (within, across) = MeanCosines(vectors);
        Assert.True(within - across > 0.5, $"within-group cosine {within:F3}, across-group {across:F3}");
    }

    [Fact]
    public void CooccurrenceCountsWeightPairsByInverseDistance()
    {
        // "x y z x": pairs (x,y) at 1 and (y,x) at 2 → 1.5; (x,z) at 2 and (z,x) at 1 → 1.5; (y,z) at 1; (x,x) at 3 twice.
        var corpus = WordCorpus.FromIds(["x", "y", "z"], [[0, 1, 2, 0]]);
        var pairs = Cooccurrences.Count(corpus, window: 3);
        var map = Enumerable.Range(0, pairs.Values.Length).ToDictionary(e => (pairs.Rows[e], pairs.Columns[e]), e => pairs.Values[e]);
        Assert.Equal(1.5, map[(0, 1)], 12);
        Assert.Equal(1.5, map[(1, 0)], 12);
        Assert.Equal(1.5, map[(0, 2)], 12);
        Assert.Equal(1.0, map[(1, 2)], 12);
        Assert.Equal(2.0 / 3, map[(0, 0)], 12);
        Assert.Equal(7, map.Count); // no (1,1), (2,2)
        var near = Cooccurrences.Count(corpus, window: 1);
        Assert.DoesNotContain((0, 0), near.Rows.Zip(near.Columns));
    }

    [Fact]
    public void CorpusWordsAreLowerCasedBasicTokensWithoutPunctuation()
    {
        var corpus = WordCorpus.FromLines(["And God said, Let there be light: and there was light.", "LIGHT!"], minCount: 2);
        Assert.Equal(["light", "and", "there"], corpus.Words);
        Assert.Equal([3L, 2, 2], corpus.Counts);
        Assert.Equal(2, corpus.Sentences.Count); // each line is a sentence
        Assert.Equal([1, 2, 0, 1, 2, 0], corpus.Sentences[0]);
    }
}

public class WordVectorFormatTests
{
    static WordVectors Tricky()
    {
        float[] values =
        [
            1f, -2f, 0.5f, MathF.PI, -0f, float.Epsilon,
            float.MaxValue, float.MinValue, 1e-30f, 0.1f, 1f / 3, -123456.789f,
        ];
        return new WordVectors(["the", "light", "jérusalem", "x"], values, 3);
    }

    static void AssertBitExact(WordVectors expected, WordVectors actual)
    {
        Assert.Equal(expected.Words, actual.Words);
        Assert.Equal(expected.Dimension, actual.Dimension);
        for (int i = 0; i < expected.Count; i++)
            for (int d = 0; d < expected.Dimension; d++)
                Assert.Equal(BitConverter.SingleToInt32Bits(expected[i][d]), BitConverter.SingleToInt32Bits(actual[i][d]));
    }

    [Theory]
    [InlineData("v.bin")]
    [InlineData("v.txt")]
    public void SaveThenLoadIsBitExact(string name)
    {
        string dir = Path.Combine(Path.GetTempPath(), "ptm-w2v-" + Guid.NewGuid().ToString("N"));
        try
        {
            var v = Tricky();
            string path = Path.Combine(dir, name);
            v.Save(path, WordVectors.FormatOf(path));
            AssertBitExact(v, WordVectors.Load(path));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void BinaryLayoutIsWord2VecCs()
    {
        var v = new WordVectors(["a", "bc"], [1f, -2f, 0.5f, 0f], 2);
        using var stream = new MemoryStream();
        v.Write(stream, WordVectorFormat.Binary);
        byte[] expected =
        [
            .. "2 2\n"u8,
            .. "a "u8, 0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, (byte)'\n', // 1.0f, -2.0f little-endian
            .. "bc "u8, 0x00, 0x00, 0x00, 0x3F, 0x00, 0x00, 0x00, 0x00, (byte)'\n', // 0.5f, 0.0f
        ];
        Assert.Equal(expected, stream.ToArray());
    }

    [Fact]
    public void TextLayoutIsWord2VecCs()
    {
        var v = new WordVectors(["a", "bc"], [1f, -2f, 0.5f, 0.1f], 2);
        using var stream = new MemoryStream();
        v.Write(stream, WordVectorFormat.Text);
        Assert.Equal("2 2\na 1 -2 \nbc 0.5 0.1 \n", Encoding.UTF8.GetString(stream.ToArray()));
    }

    [Fact]
    public void ReadsVariantsOtherWritersProduce()
    {
        // Text from other tools: no trailing space, CRLF line ends, six-decimal values as word2vec.c's %lf writes them.
        var text = WordVectors.Read(new MemoryStream("2 2\r\na 1.000000 -2.000000\r\nbc 0.500000 0.100000\r\n"u8.ToArray()), WordVectorFormat.Text, "t");
        Assert.Equal(0.1f, text[1][1]);
        // Binary without the newline after each vector (some writers leave it out).
        byte[] bin = [.. "2 1\n"u8, .. "a "u8, 0x00, 0x00, 0x80, 0x3F, .. "bc "u8, 0x00, 0x00, 0x00, 0x3F];
        var b = WordVectors.Read(new MemoryStream(bin), WordVectorFormat.Binary, "b");
        Assert.Equal(["a", "bc"], b.Words);
        Assert.Equal(0.5f, b[1][0]);
    }

    [Fact]
    public void MalformedFilesNameTheFileAndTheProblem()
    {
        var e = Assert.Throws<InvalidInputException>(() =>
            WordVectors.Read(new MemoryStream("2 3\na 1 2 3\nb 1 2\n"u8.ToArray()), WordVectorFormat.Text, "vec.txt"));
        Assert.Contains("vec.txt: line 3 has 2 values", e.Message);
        e = Assert.Throws<InvalidInputException>(() =>
            WordVectors.Read(new MemoryStream([.. "1 2\n"u8, .. "a "u8, 0, 0, 0x80]), WordVectorFormat.Binary, "vec.bin"));
        Assert.Contains("vec.bin: ends inside the vector of \"a\"", e.Message);
        e = Assert.Throws<InvalidInputException>(() => WordVectors.Read(new MemoryStream("two 3\n"u8.ToArray()), WordVectorFormat.Text, "h.txt"));
        Assert.Contains("h.txt: header", e.Message);
    }

    [Fact]
    public void NeighboursAndAnalogiesRankByCosine()
    {
        // king − man + woman is closest to queen in this hand-made space.
        var v = new WordVectors(["king", "queen", "man", "woman", "apple"],
            [1, 1, 0, /**/ 1, 0, 1, /**/ 0, 1, 0, /**/ 0, 0, 1, /**/ -1, 0, 0], 3);
        var best = v.Analogy("man", "king", "woman", 1)[0];
        Assert.Equal("queen", best.Word);
        Assert.Equal((0.5 + Math.Sqrt(0.5)) / Math.Sqrt(1.5 + Math.Pow(Math.Sqrt(0.5) - 1, 2)), best.Similarity, 6);
        var near = v.Nearest("king", 4);
        Assert.Equal("apple", near[^1].Word);
        Assert.Equal(Math.Sqrt(0.5), near.First(n => n.Word == "man").Similarity, 6);
        Assert.Contains("\"pear\" is not in the vocabulary", Assert.Throws<InvalidInputException>(() => v.Nearest("pear", 3)).Message);
        Assert.Equal(0, v.IdOf("KING")); // looked up lower-cased as the trainers store words
    }
}

public class StaticVectorsCliTests
{
    [Fact]
    public void PretrainWord2VecThenQueryNeighboursAndAnalogies()
    {
        string root = Path.Combine(Path.GetTempPath(), "ptm-w2v-cli-" + Guid.NewGuid().ToString("N"));
        try
        {
            string data = Path.Combine(root, "data");
            Directory.CreateDirectory(data);
            string verses = string.Concat(Enumerable.Repeat("In the beginning God created the heaven and the earth.\nAnd God said, Let there be light: and there was light.\n", 20));
            File.WriteAllText(Path.Combine(data, "train.txt"), verses);
            File.WriteAllText(Path.Combine(data, "validation.txt"), "And God saw the light.\n");
            string run = Path.Combine(root, "run");
            var r = CliHarness.Run("pretrain", "word2vec", "--data", data, "--out", run, "--dim", "8", "--epochs", "2", "--min-count", "1");
            Assert.True(r.ExitCode == 0, r.Err);
            Assert.Contains("vocabulary 14", r.Out);
            var bin = WordVectors.Load(Path.Combine(run, "vectors.bin"));
            AssertSame(bin, WordVectors.Load(Path.Combine(run, "vectors.txt")));
            Assert.Equal("and", bin.Words[0]); // 60 uses, tied with "the", first in ordinal order

            r = CliHarness.Run("similar", "--vectors", run, "--word", "Light", "--top", "3");
            Assert.True(r.ExitCode == 0, r.Err);
            Assert.Equal(4, r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            r = CliHarness.Run("similar", "--vectors", Path.Combine(run, "vectors.txt"), "--analogy", "god", "light", "earth");
            Assert.True(r.ExitCode == 0, r.Err);
            CliHarness.AssertOneLineError(CliHarness.Run("similar", "--vectors", run, "--analogy", "god", "light"), "--analogy needs three words");
            CliHarness.AssertOneLineError(CliHarness.Run("pretrain", "word2vec", "--data", data, "--out", run), "already exists");
            CliHarness.AssertOneLineError(CliHarness.Run("pretrain", "glove", "--data", data, "--out", run, "--force", "--epochs", "0"), "--epochs must be at least 1");
        }
        finally { if (Directory.Exists(root)) Directory.Delete(root, true); }
    }

    static void AssertSame(WordVectors a, WordVectors b)
    {
        Assert.Equal(a.Words, b.Words);
        for (int i = 0; i < a.Count; i++) Assert.True(a[i].SequenceEqual(b[i]));
    }
}
