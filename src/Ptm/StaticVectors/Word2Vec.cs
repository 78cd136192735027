using Ptm.Data;

namespace Ptm.StaticVectors;

/// <summary>Settings of <see cref="Word2Vec"/>; the defaults are word2vec.c's for skip-gram with negative sampling.</summary>
public sealed record Word2VecOptions
{
    /// <summary>Vector size (word2vec.c -size).</summary>
    public int Dimension { get; init; } = 100;
    /// <summary>Largest distance of a context word; each centre word draws its own window uniformly from 1..Window (-window).</summary>
    public int Window { get; init; } = 5;
    /// <summary>Noise words per context word (-negative).</summary>
    public int Negative { get; init; } = 5;
    /// <summary>Subsampling threshold t (-sample): a word of corpus frequency f is kept with probability (√(f/t) + 1)·t/f; 0 keeps every word.</summary>
    public double Sample { get; init; } = 1e-3;
    /// <summary>Starting learning rate (-alpha), decayed linearly to 1e-4 of itself over all epochs.</summary>
    public double LearningRate { get; init; } = 0.025;
    /// <summary>Passes over the corpus (-iter).</summary>
    public int Epochs { get; init; } = 5;
    /// <summary>Seeds initialisation, subsampling, window sizes and noise; the same seed gives the same vectors.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Checks every field.</summary>
    /// <exception cref="InvalidOptionException">A field is out of range.</exception>
    public void Validate()
    {
        if (Dimension < 1) throw new InvalidOptionException(nameof(Word2VecOptions), nameof(Dimension), "must be at least 1", Dimension);
        if (Window < 1) throw new InvalidOptionException(nameof(Word2VecOptions), nameof(Window), "must be at least 1", Window);
        if (Negative < 1) throw new InvalidOptionException(nameof(Word2VecOptions), nameof(Negative), "must be at least 1", Negative);
        if (!(Sample >= 0)) throw new InvalidOptionException(nameof(Word2VecOptions), nameof(Sample), "must be >= 0", Sample);
        if (!(LearningRate > 0)) throw new InvalidOptionException(nameof(Word2VecOptions), nameof(LearningRate), "must be > 0", LearningRate);
        if (Epochs < 1) throw new InvalidOptionException(nameof(Word2VecOptions), nameof(Epochs), "must be at least 1", Epochs);
    }
}

/// <summary>Progress of a static-vector trainer: the epoch just finished (1-based), its mean loss per term and the learning rate reached.</summary>
public readonly record struct StaticVectorProgress(int Epoch, double MeanLoss, double LearningRate);

/// <summary>
/// Skip-gram with negative sampling trained as Mikolov's word2vec.c does it (one thread, so runs are reproducible):
/// frequent words subsampled, for each kept centre word a window drawn uniformly from 1..<see cref="Word2VecOptions.Window"/>
/// (the "reduced window" that weights near context words more), every context word in it one positive term plus
/// <see cref="Word2VecOptions.Negative"/> noise words drawn from the unigram distribution raised to ¾, and the learning
/// rate decayed linearly with the words processed. The input vectors are the word vectors.
/// </summary>
public static class Word2Vec
{
    /// <summary>Size of the noise table (word2vec.c uses 1e8; a quarter-million-word vocabulary still gets 16 slots a word).</summary>
    const int NoiseTableSize = 1 << 22;

    /// <summary>Trains vectors for <paramref name="corpus"/>'s vocabulary.</summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public static WordVectors Train(WordCorpus corpus, Word2VecOptions options, Action<StaticVectorProgress>? progress = null)
    {
        options.Validate();
        int v = corpus.Words.Count, dim = options.Dimension;
        var rng = new SplitMix64(SplitMix64.Mix(options.Seed));
        var input = new float[(long)v * dim];
        var output = new float[(long)v * dim]; // word2vec.c's syn1neg starts at zero
        for (long i = 0; i < input.Length; i++) input[i] = (float)((NextDouble(ref rng) - 0.5) / dim);
        int[] noise = NoiseTable(corpus.Counts);
        double[] keep = KeepProbabilities(corpus.Counts, corpus.TokenCount, options.Sample);

        long total = options.Epochs * corpus.TokenCount + 1, seen = 0;
        float alpha0 = (float)options.LearningRate, alpha = alpha0;
        var gradient = new float[dim];
        var kept = new List<int>();
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            double lossSum = 0;
            long terms = 0;
            foreach (int[] sentence in corpus.Sentences)
            {
                // Learning rate: linear in the words read so far (kept or not), floored at 1e-4 of the start.
                alpha = Math.Max(alpha0 * (1 - (float)((double)seen / total)), alpha0 * 1e-4f);
                seen += sentence.Length;
                kept.Clear();
                foreach (int w in sentence)
                    if (keep[w] >= 1 || NextDouble(ref rng) < keep[w]) kept.Add(w);
                for (int pos = 0; pos < kept.Count; pos++)
                {
                    int reduced = (int)rng.NextBelow((ulong)options.Window); // window = Window - reduced, in 1..Window
                    int span = options.Window - reduced;
                    for (int c = Math.Max(0, pos - span); c <= Math.Min(kept.Count - 1, pos + span); c++)
                    {
                        if (c == pos) continue;
                        // As in word2vec.c: the context word's input vector is trained to predict the centre word.
                        int context = kept[c], centre = kept[pos];
                        var inVec = input.AsSpan(context * dim, dim);
                        Array.Clear(gradient);
                        lossSum += SkipGramObjective.Step<float>(inVec, output.AsSpan(centre * dim, dim), true, alpha, gradient);
                        for (int n = 0; n < options.Negative; n++)
                        {
                            int target = noise[(int)rng.NextBelow(NoiseTableSize)];
                            if (target == centre) continue;
                            lossSum += SkipGramObjective.Step<float>(inVec, output.AsSpan(target * dim, dim), false, alpha, gradient);
                        }
                        terms += 1 + options.Negative;
                        VectorOps.Axpy(-alpha, gradient, inVec);
                    }
                }
            }
            progress?.Invoke(new StaticVectorProgress(epoch, terms == 0 ? 0 : lossSum / terms, alpha));
        }
        return new WordVectors(corpus.Words, input, dim);
    }

    /// <summary>Word ids laid out in proportion to count^0.75, so a uniform slot is a draw from the smoothed unigram distribution.</summary>
    internal static int[] NoiseTable(IReadOnlyList<long> counts)
    {
        var table = new int[NoiseTableSize];
        double norm = counts.Sum(c => Math.Pow(c, 0.75));
        int word = 0;
        double cumulative = Math.Pow(counts[0], 0.75) / norm;
        for (int a = 0; a < table.Length; a++)
        {
            table[a] = word;
            if ((a + 1.0) / table.Length > cumulative && word < counts.Count - 1)
            {
                word++;
                cumulative += Math.Pow(counts[word], 0.75) / norm;
            }
        }
        return table;
    }

    /// <summary>word2vec.c's keep probability (√(f/t) + 1)·t/f with f = count / tokens; values at or above 1 always keep.</summary>
    internal static double[] KeepProbabilities(IReadOnlyList<long> counts, long tokens, double sample)
    {
        var keep = new double[counts.Count];
        for (int i = 0; i < keep.Length; i++)
        {
            if (sample <= 0) { keep[i] = 1; continue; }
            double threshold = sample * tokens;
            keep[i] = (Math.Sqrt(counts[i] / threshold) + 1) * threshold / counts[i];
        }
        return keep;
    }

    static double NextDouble(ref SplitMix64 rng) => (rng.Next() >> 11) * (1.0 / (1UL << 53));
}
