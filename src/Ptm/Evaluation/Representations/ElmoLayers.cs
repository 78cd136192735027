using Ptm.Embeddings;
using Ptm.Modeling;
using Ptm.Tokenization;

namespace Ptm.Evaluation.Representations;

/// <summary>
/// An ELMo biLM as a three-layer representation: layer 0 is the character-CNN token vector (repeated for both
/// directions), layers 1 and 2 the forward and backward LSTM states side by side, as <see cref="ElmoEmbedder"/> gives
/// them. Words are split as the biLM was trained (<see cref="ElmoVocabulary.SplitWords"/>, case and punctuation
/// kept); every word has a vector, since the character CNN reads any word.
/// </summary>
public sealed class ElmoLayers : ILayeredRepresentation
{
    readonly ElmoEmbedder embedder;

    /// <summary>A representation over <paramref name="model"/> (borrowed), called <paramref name="name"/> in tables.</summary>
    public ElmoLayers(ElmoBiLm model, string name)
    {
        embedder = new ElmoEmbedder(model);
        Name = name;
        LayerNames = Enumerable.Range(0, model.LayerCount).Select(j => j == 0 ? "0 (char-CNN)" : j.ToString()).ToArray();
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> LayerNames { get; }

    /// <inheritdoc />
    public LayeredTokens Encode(string text)
    {
        var words = ElmoVocabulary.SplitWords(text).ToList();
        using var scope = TorchSharp.torch.NewDisposeScope();
        using var vectors = embedder.LayerVectors(text);
        if (vectors.Words.Count != words.Count)
            throw new InvalidOperationException($"the embedder split \"{text}\" into {vectors.Words.Count} words, the adapter into {words.Count}");
        var layers = new List<float[]?[]>(LayerNames.Count);
        for (int j = 0; j < LayerNames.Count; j++)
        {
            var row = new float[]?[words.Count];
            for (int w = 0; w < words.Count; w++) row[w] = vectors.Layers[j, w].data<float>().ToArray();
            layers.Add(row);
        }
        return new LayeredTokens(words.Select(w => new CharSpan(w.Start, w.End)).ToList(), layers);
    }
}
