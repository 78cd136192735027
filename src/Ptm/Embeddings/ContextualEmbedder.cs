using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Embeddings;

/// <summary>How a sentence vector is made from the token vectors.</summary>
public enum Pooling
{
    /// <summary>The [CLS] position's vector (BERT's sentence representation).</summary>
    Cls,
    /// <summary>The mean over the sentence's own tokens ([CLS] and [SEP] left out).</summary>
    Mean,
}

/// <summary>One token's contextual vector, with its WordPiece text and where it came from in the sentence.</summary>
public sealed record TokenVector(string Token, int Start, int End, float[] Vector);

/// <summary>A sentence's pooled vector and its tokens' vectors.</summary>
/// <param name="Text">the sentence as given</param>
/// <param name="Sentence">the pooled sentence vector (<see cref="EmbeddingOptions.Pooling"/>)</param>
/// <param name="Tokens">one vector per WordPiece token of the sentence, [CLS] and [SEP] left out</param>
/// <param name="Truncated">The sentence was longer than the model's context and was cut (never silently: callers warn).</param>
public sealed record SentenceVectors(string Text, float[] Sentence, IReadOnlyList<TokenVector> Tokens, bool Truncated);

/// <summary>Which layers make a token's vector and how a sentence vector is pooled. Defaults: the last layer, mean pooling.</summary>
public sealed record EmbeddingOptions
{
    /// <summary>Layers to read: negative indices count from the last layer (-1 = last, the default); 0 is the
    /// embedding output. At least one.</summary>
    public IReadOnlyList<int> Layers { get; init; } = [-1];

    /// <summary>Concatenate the chosen layers' vectors (true, the default: BERT's feature-based recipe) or average them.</summary>
    public bool ConcatLayers { get; init; } = true;

    /// <summary>Sentence vector: the mean of the sentence's own tokens (default) or the [CLS] vector.</summary>
    public Pooling Pooling { get; init; } = Pooling.Mean;

    /// <summary>Layer indices resolved against a model of <paramref name="depth"/> layers (0 = embeddings), or
    /// <see cref="InvalidOptionException"/> for an empty list or a layer the model lacks.</summary>
    public int[] ResolveLayers(int depth)
    {
        if (Layers.Count == 0) throw new InvalidOptionException(nameof(EmbeddingOptions), nameof(Layers), "must name at least one layer");
        return Layers.Select(l =>
        {
            int index = l < 0 ? depth + 1 + l : l;
            if (index < 0 || index > depth)
                throw new InvalidOptionException(nameof(EmbeddingOptions), nameof(Layers),
                    $"must name layers of this model (-{depth}..-1, or 0..{depth} with 0 the embeddings)", l);
            return index;
        }).ToArray();
    }
}

/// <summary>
/// Contextual embeddings from a BERT encoder: per-token vectors from chosen layers (concatenated, as in the
/// BERT paper's feature-based experiments, or averaged) and a pooled sentence vector.
/// The encoder is borrowed: the caller disposes it; each call leaves its train/eval mode as it was.
/// </summary>
public sealed class ContextualEmbedder : ITextEmbedder
{
    readonly BertModel model;
    readonly WordPieceTokenizer tokenizer;
    readonly int[] layers;
    readonly bool concat;

    /// <summary>Vectors from <paramref name="model"/>'s chosen layers (<see cref="EmbeddingOptions.Pooling"/> is
    /// the default for <see cref="Embed(string)"/>).</summary>
    public ContextualEmbedder(BertModel model, WordPieceTokenizer tokenizer, EmbeddingOptions options)
    {
        layers = options.ResolveLayers(model.Config.NumHiddenLayers);
        this.model = model;
        this.tokenizer = tokenizer;
        concat = options.ConcatLayers;
        Pooling = options.Pooling;
    }

    /// <summary>An embedder over the given <paramref name="layers"/> with the default pooling; the caller keeps and disposes <paramref name="model"/>.</summary>
    /// <param name="model">the encoder</param>
    /// <param name="tokenizer">its WordPiece tokenizer</param>
    /// <param name="layers">Negative indices count from the last layer (-1 = last); 0 is the embedding output.</param>
    /// <param name="concat">concatenate the layers' vectors (else average them)</param>
    public ContextualEmbedder(BertModel model, WordPieceTokenizer tokenizer, IReadOnlyList<int> layers, bool concat = true)
        : this(model, tokenizer, new EmbeddingOptions { Layers = layers, ConcatLayers = concat })
    {
    }

    /// <summary>Length of every vector: the hidden size, times the number of layers when they are concatenated.</summary>
    public int Dimension => concat ? layers.Length * model.Config.HiddenSize : model.Config.HiddenSize;

    /// <summary>The pooling <see cref="Embed(string)"/> uses.</summary>
    public Pooling Pooling { get; }

    /// <summary>The sentence and token vectors of <paramref name="text"/>, pooled as the options say.</summary>
    public SentenceVectors Embed(string text) => Embed(text, Pooling);

    /// <summary>The sentence and token vectors of <paramref name="text"/>, pooled by <paramref name="pooling"/>.</summary>
    public SentenceVectors Embed(string text, Pooling pooling)
    {
        var encoding = tokenizer.EncodePair(text, null, model.Config.MaxPositionEmbeddings);
        long T = encoding.Length;
        using var mode = EvalMode.Enter(model);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var inputs = new BertInputs(
            tensor(encoding.InputIds.Select(i => (long)i).ToArray(), 1, T),
            tensor(encoding.TokenTypeIds.Select(i => (long)i).ToArray(), 1, T),
            ones(1, T, ScalarType.Int64));
        var states = model.HiddenStates(inputs);
        var picked = layers.Select(l => states[l][0]).ToList();                 // each (T, H)
        var vectors = concat ? cat(picked, -1) : stack(picked).mean([0]);         // (T, D)
        var rows = vectors.to(ScalarType.Float32).data<float>().ToArray();
        int d = (int)vectors.shape[1];
        float[] Row(int t) => rows.AsSpan(t * d, d).ToArray();

        var tokens = new List<TokenVector>();
        for (int t = 0; t < T; t++)
            if (!encoding.SpecialTokensMask[t])
                tokens.Add(new TokenVector(tokenizer.TokenText(encoding.InputIds[t]), encoding.Offsets[t].Start, encoding.Offsets[t].End, Row(t)));
        float[] sentence = pooling == Pooling.Cls || tokens.Count == 0 ? Row(0) : Mean(tokens.Select(x => x.Vector), d);
        return new SentenceVectors(text, sentence, tokens, encoding.IsTruncated);
    }

    static float[] Mean(IEnumerable<float[]> vectors, int d)
    {
        var sum = new double[d];
        int n = 0;
        foreach (var v in vectors) { for (int i = 0; i < d; i++) sum[i] += v[i]; n++; }
        return sum.Select(s => (float)(s / n)).ToArray();
    }
}

/// <summary>Comparing vectors from <see cref="ContextualEmbedder"/>.</summary>
public static class VectorSimilarity
{
    /// <summary>Cosine of the angle between <paramref name="a"/> and <paramref name="b"/>, in [-1, 1]; 0 when either is all zeros.</summary>
    public static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"vectors of different lengths ({a.Length} and {b.Length})");
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>Indices of <paramref name="candidates"/> ordered by cosine similarity to <paramref name="query"/>, best first.</summary>
    public static IReadOnlyList<(int Index, double Similarity)> Rank(float[] query, IReadOnlyList<float[]> candidates) =>
        candidates.Select((c, i) => (i, Cosine(query, c))).OrderByDescending(x => x.Item2).ThenBy(x => x.i).ToList();
}
