using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Embeddings;

/// <summary>What <c>ptm embed</c> needs of an embedder, whichever model family it reads: sentence and token vectors of a text.</summary>
public interface ITextEmbedder
{
    /// <summary>Length of every vector.</summary>
    int Dimension { get; }

    /// <summary>The pooling <see cref="Embed"/> uses unless told otherwise.</summary>
    Pooling Pooling { get; }

    /// <summary>The sentence and token vectors of <paramref name="text"/>, the sentence vector pooled by <paramref name="pooling"/>.</summary>
    SentenceVectors Embed(string text, Pooling pooling);
}

/// <summary>One sentence's ELMo layers: its words and their vectors.</summary>
/// <param name="Words">the sentence's words (<see cref="ElmoVocabulary.SplitWords"/>), sentence markers left out</param>
/// <param name="Layers">(NLayers + 1, W, 2P) float32: layer 0 the char-CNN token representation (repeated for both
/// directions), layer j the forward and backward LSTM states of layer j concatenated; owned by the caller</param>
public sealed record ElmoLayerVectors(IReadOnlyList<string> Words, Tensor Layers) : IDisposable
{
    /// <summary>Frees <see cref="Layers"/>.</summary>
    public void Dispose() => Layers.Dispose();
}

/// <summary>
/// Contextual word vectors from an ELMo biLM (Peters et al. 2018). Each sentence is read as
/// <c>&lt;S&gt; w1 … wn &lt;/S&gt;</c> by both directions, and the markers' positions are dropped from the output.
/// <see cref="LayerVectors(string)"/> gives every layer of every word; <see cref="Embed(string)"/> gives one vector per word,
/// the chosen layers averaged or concatenated (by default all layers averaged: the paper's scalar mix with equal
/// weights and γ = 1), and their mean as the sentence vector. The model is borrowed: the caller disposes it; each call
/// leaves its train/eval mode as it was.
/// </summary>
/// <example>
/// <code>
/// var (model, vocabulary) = ElmoFolder.Load("runs/elmo");
/// var embedder = new ElmoEmbedder(model);
/// using var v = embedder.LayerVectors("And God said, Let there be light");
/// // v.Words[7] == "light"; v.Layers[2][7] is its top-layer vector (2P)
/// </code>
/// </example>
public sealed class ElmoEmbedder : ITextEmbedder
{
    readonly ElmoBiLm model;
    readonly int[] layers;
    readonly bool concat;

    /// <summary>An embedder over <paramref name="model"/>; <paramref name="options"/> null averages every layer (the
    /// scalar mix at s = 0, γ = 1), else reads its layers (0 = the token layer, -1 = the top) and pooling.</summary>
    /// <exception cref="InvalidOptionException">A layer the model lacks, or [CLS] pooling (ELMo has no [CLS] token).</exception>
    public ElmoEmbedder(ElmoBiLm model, EmbeddingOptions? options = null)
    {
        this.model = model;
        options ??= AllLayersAveraged(model);
        if (options.Pooling == Pooling.Cls)
            throw new InvalidOptionException(nameof(EmbeddingOptions), nameof(EmbeddingOptions.Pooling), "must be Mean for ELMo (it has no [CLS] token)", "Cls");
        layers = options.ResolveLayers(model.Config.NLayers);
        concat = options.ConcatLayers;
        Pooling = options.Pooling;
    }

    /// <summary>Options that average every layer of <paramref name="model"/>: the default of <see cref="ElmoEmbedder"/>.</summary>
    public static EmbeddingOptions AllLayersAveraged(ElmoBiLm model) =>
        new() { Layers = Enumerable.Range(0, model.LayerCount).ToArray(), ConcatLayers = false, Pooling = Pooling.Mean };

    /// <summary>Length of every vector: 2P, times the number of layers when they are concatenated.</summary>
    public int Dimension => (concat ? layers.Length : 1) * model.OutputDim;

    /// <inheritdoc/>
    public Pooling Pooling { get; }

    /// <summary>Every layer's vector for each word of <paramref name="sentence"/>; the caller disposes the result.</summary>
    public ElmoLayerVectors LayerVectors(string sentence) => LayerVectors([sentence])[0];

    /// <summary>
    /// <see cref="LayerVectors(string)"/> for several sentences at once (one padded batch; each sentence's vectors are
    /// those it gets alone, since the backward LM reads every row reversed within its own length).
    /// </summary>
    public IReadOnlyList<ElmoLayerVectors> LayerVectors(IReadOnlyList<string> sentences)
    {
        var words = sentences.Select(s => (IReadOnlyList<string>)ElmoVocabulary.SplitWords(s).Select(t => t.Text).ToArray()).ToList();
        int L = model.Config.MaxCharactersPerToken, P2 = model.OutputDim, depth = model.LayerCount;
        if (words.Count == 0) return [];
        int T = words.Max(w => w.Count) + 2;
        var chars = new long[words.Count * T * L];
        var lengths = new long[words.Count];
        var row = new int[L];
        for (int b = 0; b < words.Count; b++)
        {
            string[] tokens = [ElmoVocabulary.BeginSentence, .. words[b], ElmoVocabulary.EndSentence];
            lengths[b] = tokens.Length;
            for (int t = 0; t < tokens.Length; t++)
            {
                ElmoVocabulary.CharIds(tokens[t], row);
                for (int i = 0; i < L; i++) chars[((long)b * T + t) * L + i] = row[i];
            }
        }
        using var mode = EvalMode.Enter(model);
        using var _ = no_grad();
        var result = new List<ElmoLayerVectors>(words.Count);
        using (var scope = NewDisposeScope())
        {
            var all = model.Layers(tensor(chars, words.Count, T, L), tensor(lengths)).to(ScalarType.Float32); // (J, B, T, 2P)
            for (int b = 0; b < words.Count; b++)
            {
                var mine = all[.., b, 1..(int)(lengths[b] - 1)].contiguous();                                      // (J, W, 2P)
                result.Add(new ElmoLayerVectors(words[b], mine.MoveToOuterDisposeScope()));
            }
        }
        return result;
    }

    /// <summary>Word vectors of <paramref name="text"/> from the chosen layers and their mean as the sentence vector.</summary>
    public SentenceVectors Embed(string text) => Embed(text, Pooling);

    /// <inheritdoc/>
    /// <exception cref="InvalidOptionException"><paramref name="pooling"/> is Cls.</exception>
    public SentenceVectors Embed(string text, Pooling pooling)
    {
        if (pooling == Pooling.Cls)
            throw new InvalidOptionException(nameof(EmbeddingOptions), nameof(EmbeddingOptions.Pooling), "must be Mean for ELMo (it has no [CLS] token)", "Cls");
        var spans = ElmoVocabulary.SplitWords(text);
        using var v = LayerVectors(text);
        float[] flat;
        using (var scope = NewDisposeScope())
        {
            var picked = v.Layers.index_select(0, tensor(layers.Select(l => (long)l).ToArray()));            // (K, W, 2P)
            var vectors = concat ? picked.permute(1, 0, 2).reshape(v.Words.Count, -1) : picked.mean([0]);   // (W, D)
            flat = vectors.contiguous().data<float>().ToArray();
        }
        int d = Dimension;
        var tokens = spans.Select((s, i) => new TokenVector(s.Text, s.Start, s.End, flat.AsSpan(i * d, d).ToArray())).ToList();
        var sentence = new float[d];
        foreach (var t in tokens)
            for (int i = 0; i < d; i++) sentence[i] += t.Vector[i] / tokens.Count;
        return new SentenceVectors(text, sentence, tokens, false);
    }
}
