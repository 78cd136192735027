using Ptm.Tokenization;

namespace Ptm.Evaluation.Representations;

/// <summary>
/// A text's tokens with one vector per token at every layer of a representation: where each token came from in the
/// text, and <c>Vectors[layer][token]</c>. A token may have no vector (null): a static vocabulary's unknown word.
/// Special tokens ([CLS], [SEP], a GPT's leading document separator) are left out.
/// </summary>
/// <param name="Spans">each token's character span in the text, in order</param>
/// <param name="Vectors">per layer, one vector (or null) per token; every layer has <see cref="Spans"/>.Count entries</param>
/// <param name="Truncated">the text was longer than the model's context and its end was dropped</param>
public sealed record LayeredTokens(IReadOnlyList<CharSpan> Spans, IReadOnlyList<float[]?[]> Vectors, bool Truncated = false)
{
    /// <summary>The vector of the word at <paramref name="target"/> in <paramref name="layer"/>: the mean over the tokens
    /// (word pieces) whose spans overlap it. Null when no token overlaps (the word was truncated away) or when one of
    /// them has no vector, so a word is either represented whole or not at all.</summary>
    public float[]? WordVector(int layer, CharSpan target)
    {
        var picked = new List<float[]>();
        for (int t = 0; t < Spans.Count; t++)
        {
            var s = Spans[t];
            if (s.Start < target.End && s.End > target.Start && s.Length > 0)
            {
                if (Vectors[layer][t] is not { } v) return null;
                picked.Add(v);
            }
        }
        return picked.Count == 0 ? null : Mean(picked);
    }

    /// <summary>The mean of every token vector of <paramref name="layer"/> (tokens without a vector left out), or null
    /// when no token has one: the frozen text feature a linear probe reads.</summary>
    public float[]? TextVector(int layer)
    {
        var picked = Vectors[layer].Where(v => v is not null).Select(v => v!).ToList();
        return picked.Count == 0 ? null : Mean(picked);
    }

    /// <summary>The element-wise mean, accumulated in float64 in token order (the same inputs give the same bits).</summary>
    internal static float[] Mean(IReadOnlyList<float[]> vectors)
    {
        int d = vectors[0].Length;
        var sum = new double[d];
        foreach (var v in vectors)
        {
            if (v.Length != d) throw new ArgumentException($"vectors of different lengths ({d} and {v.Length})");
            for (int i = 0; i < d; i++) sum[i] += v[i];
        }
        var mean = new float[d];
        for (int i = 0; i < d; i++) mean[i] = (float)(sum[i] / vectors.Count);
        return mean;
    }
}

/// <summary>
/// A source of per-layer token vectors for the representation study: static word vectors (one layer, the same vector
/// in every context), a GPT's or BERT's hidden states (layer 0 the embeddings, then one per block), an ELMo's three
/// layers. An adapter only has to split a text into tokens with character spans and give each a vector per layer.
/// </summary>
public interface ILayeredRepresentation
{
    /// <summary>A short name for tables (e.g. <c>word2vec</c>, <c>bert</c>).</summary>
    string Name { get; }

    /// <summary>Names of the layers, index 0 first (e.g. <c>0 (embeddings)</c>, <c>1</c>, …); at least one.</summary>
    IReadOnlyList<string> LayerNames { get; }

    /// <summary>The tokens of <paramref name="text"/> and their vectors at every layer.</summary>
    LayeredTokens Encode(string text);
}
