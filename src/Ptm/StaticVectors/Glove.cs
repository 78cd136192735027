using Ptm.Data;

namespace Ptm.StaticVectors;

/// <summary>Settings of <see cref="Glove"/>; the defaults follow the GloVe reference's demo.sh except the window (10).</summary>
public sealed record GloveOptions
{
    /// <summary>Vector size.</summary>
    public int Dimension { get; init; } = 50;
    /// <summary>Context words counted on each side; a pair d words apart adds 1/d.</summary>
    public int Window { get; init; } = 10;
    /// <summary>x_max of the weighting f(x) = min(1, (x / x_max)^α).</summary>
    public double XMax { get; init; } = 10;
    /// <summary>α of the weighting.</summary>
    public double Alpha { get; init; } = 0.75;
    /// <summary>AdaGrad's initial learning rate (glove.c -eta).</summary>
    public double LearningRate { get; init; } = 0.05;
    /// <summary>Passes over the non-zero co-occurrences, each in a fresh random order.</summary>
    public int Epochs { get; init; } = 15;
    /// <summary>Seeds initialisation and the shuffles; the same seed gives the same vectors.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Checks every field.</summary>
    /// <exception cref="InvalidOptionException">A field is out of range.</exception>
    public void Validate()
    {
        if (Dimension < 1) throw new InvalidOptionException(nameof(GloveOptions), nameof(Dimension), "must be at least 1", Dimension);
        if (Window < 1) throw new InvalidOptionException(nameof(GloveOptions), nameof(Window), "must be at least 1", Window);
        if (!(XMax > 0)) throw new InvalidOptionException(nameof(GloveOptions), nameof(XMax), "must be > 0", XMax);
        if (!(Alpha > 0)) throw new InvalidOptionException(nameof(GloveOptions), nameof(Alpha), "must be > 0", Alpha);
        if (!(LearningRate > 0)) throw new InvalidOptionException(nameof(GloveOptions), nameof(LearningRate), "must be > 0", LearningRate);
        if (Epochs < 1) throw new InvalidOptionException(nameof(GloveOptions), nameof(Epochs), "must be at least 1", Epochs);
    }
}

/// <summary>The non-zero entries of a word-by-context co-occurrence matrix, in row-major order.</summary>
/// <param name="Rows">Word id of each entry.</param>
/// <param name="Columns">Context word id of each entry.</param>
/// <param name="Values">Weighted count of each entry (Σ 1/distance over the pair's occurrences).</param>
public sealed record Cooccurrences(int[] Rows, int[] Columns, double[] Values)
{
    /// <summary>
    /// Counts, within each sentence, every pair of words at most <paramref name="window"/> apart, adding 1/distance
    /// (glove.c's distance weighting) in both directions, so the matrix is symmetric.
    /// </summary>
    public static Cooccurrences Count(WordCorpus corpus, int window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        long v = corpus.Words.Count;
        var counts = new Dictionary<long, double>();
        foreach (int[] s in corpus.Sentences)
            for (int i = 0; i < s.Length; i++)
                for (int j = Math.Max(0, i - window); j < i; j++)
                {
                    double w = 1.0 / (i - j);
                    ref double a = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, s[i] * v + s[j], out _);
                    a += w;
                    ref double b = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, s[j] * v + s[i], out _);
                    b += w;
                }
        long[] keys = counts.Keys.ToArray();
        Array.Sort(keys);
        return new Cooccurrences(keys.Select(k => (int)(k / v)).ToArray(), keys.Select(k => (int)(k % v)).ToArray(), keys.Select(k => counts[k]).ToArray());
    }
}

/// <summary>
/// GloVe (Pennington, Socher and Manning 2014) as the reference glove.c trains it: distance-weighted co-occurrence
/// counts, the weighted least squares of <see cref="GloveObjective"/> over the non-zero entries in shuffled order,
/// AdaGrad with squared-gradient sums starting at 1, and word + context vectors summed for output (glove.c -model 2).
/// </summary>
public static class Glove
{
    /// <summary>Counts co-occurrences in <paramref name="corpus"/> and trains vectors for its vocabulary.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public static WordVectors Train(WordCorpus corpus, GloveOptions options, Action<StaticVectorProgress>? progress = null)
    {
        options.Validate();
        return Train(corpus.Words, Cooccurrences.Count(corpus, options.Window), options, progress);
    }

    /// <summary>Trains vectors for <paramref name="words"/> from counted <paramref name="pairs"/>.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public static WordVectors Train(IReadOnlyList<string> words, Cooccurrences pairs, GloveOptions options, Action<StaticVectorProgress>? progress = null)
    {
        options.Validate();
        int v = words.Count, dim = options.Dimension;
        var rng = new SplitMix64(SplitMix64.Mix(options.Seed));
        float[] w = new float[v * dim], c = new float[v * dim], bw = new float[v], bc = new float[v];
        for (int i = 0; i < w.Length; i++) w[i] = (float)((NextDouble(ref rng) - 0.5) / dim);
        for (int i = 0; i < c.Length; i++) c[i] = (float)((NextDouble(ref rng) - 0.5) / dim);
        for (int i = 0; i < v; i++) bw[i] = (float)((NextDouble(ref rng) - 0.5) / dim);
        for (int i = 0; i < v; i++) bc[i] = (float)((NextDouble(ref rng) - 0.5) / dim);
        float[] gw = new float[v * dim], gc = new float[v * dim], gbw = new float[v], gbc = new float[v];
        Array.Fill(gw, 1f); Array.Fill(gc, 1f); Array.Fill(gbw, 1f); Array.Fill(gbc, 1f);

        float eta = (float)options.LearningRate, xMax = (float)options.XMax, alpha = (float)options.Alpha;
        var dw = new float[dim];
        var dc = new float[dim];
        int[] order = Enumerable.Range(0, pairs.Values.Length).ToArray();
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            for (int i = order.Length - 1; i > 0; i--)
            {
                int j = (int)rng.NextBelow((ulong)i + 1);
                (order[i], order[j]) = (order[j], order[i]);
            }
            double cost = 0;
            foreach (int e in order)
            {
                int row = pairs.Rows[e], col = pairs.Columns[e];
                var wv = w.AsSpan(row * dim, dim);
                var cv = c.AsSpan(col * dim, dim);
                float loss = GloveObjective.LossAndGradient<float>(wv, cv, bw[row], bc[col], (float)pairs.Values[e], xMax, alpha, dw, dc, out float db);
                if (!float.IsFinite(loss)) continue; // glove.c skips a non-finite pair rather than poisoning the vectors
                cost += loss;
                AdaGrad(wv, dw, gw.AsSpan(row * dim, dim), eta);
                AdaGrad(cv, dc, gc.AsSpan(col * dim, dim), eta);
                bw[row] -= eta * db / MathF.Sqrt(gbw[row]);
                gbw[row] += db * db;
                bc[col] -= eta * db / MathF.Sqrt(gbc[col]);
                gbc[col] += db * db;
            }
            progress?.Invoke(new StaticVectorProgress(epoch, order.Length == 0 ? 0 : cost / order.Length, eta));
        }
        for (int i = 0; i < w.Length; i++) w[i] += c[i];
        return new WordVectors(words, w, dim);
    }

    /// <summary>AdaGrad as glove.c applies it: step by the gradient over the root of the squared-gradient sum so far, then add its square.</summary>
    static void AdaGrad(Span<float> parameters, ReadOnlySpan<float> gradient, Span<float> squares, float eta)
    {
        for (int k = 0; k < parameters.Length; k++)
        {
            parameters[k] -= eta * gradient[k] / MathF.Sqrt(squares[k]);
            squares[k] += gradient[k] * gradient[k];
        }
    }

    static double NextDouble(ref SplitMix64 rng) => (rng.Next() >> 11) * (1.0 / (1UL << 53));
}
