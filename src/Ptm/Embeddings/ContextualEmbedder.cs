using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Embeddings;

public enum Pooling
{
    /// <summary>The [CLS] position's vector (BERT's sentence representation).</summary>
    Cls,
    /// <summary>The mean over the sentence's own tokens ([CLS] and [SEP] left out).</summary>
    Mean,
}

/// <summary>One token's contextual vector, with its WordPiece text and where it came from in the sentence.</summary>
public sealed record TokenVector(string Token, int Start, int End, float[] Vector);

/// <param name="Truncated">The sentence was longer than the model's context and was cut (never silently: callers warn).</param>
public sealed record SentenceVectors(string Text, float[] Sentence, IReadOnlyList<TokenVector> Tokens, bool Truncated);

/// <summary>
/// Contextual embeddings from a BERT encoder: per-token vectors from chosen layers (concatenated, as in the
/// BERT paper's feature-based experiments, or averaged) and a pooled sentence vector.
/// </summary>
public sealed class ContextualEmbedder
{
    readonly BertModel model;
    readonly WordPieceTokenizer tokenizer;
    readonly int[] layers;
    readonly bool concat;

    /// <param name="layers">Negative indices count from the last layer (-1 = last); 0 is the embedding output.</param>
    public ContextualEmbedder(BertModel model, WordPieceTokenizer tokenizer, IReadOnlyList<int> layers, bool concat = true)
    {
        int depth = model.Config.NumHiddenLayers;
        if (layers.Count == 0) throw new InvalidInputException("--layers must name at least one layer");
        this.layers = layers.Select(l =>
        {
            int index = l < 0 ? depth + 1 + l : l;
            if (index < 0 || index > depth) throw new InvalidInputException($"--layers: layer {l} does not exist (the model has layers -{depth}..-1, or 0..{depth} with 0 the embeddings)");
            return index;
        }).ToArray();
        this.model = model;
        this.tokenizer = tokenizer;
        this.concat = concat;
    }

    public int Dimension => concat ? layers.Length * model.Config.HiddenSize : model.Config.HiddenSize;

    public SentenceVectors Embed(string text, Pooling pooling)
    {
        var encoding = tokenizer.EncodePair(text, null, model.Config.MaxPositionEmbeddings);
        long T = encoding.Length;
        model.eval();
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

public static class VectorSimilarity
{
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
