using Ptm.StaticVectors;
using Ptm.Tokenization;

namespace Ptm.Evaluation.Representations;

/// <summary>
/// Static word vectors (word2vec, GloVe) as a one-layer representation: a text is split into words as the trainers
/// split their corpus (<see cref="WordCorpus.SplitWords"/>: BERT's basic tokenizer, lower-cased, punctuation-only
/// tokens dropped) and each word gets its vector whatever surrounds it; a word outside the vocabulary gets none.
/// </summary>
public sealed class StaticLayers : ILayeredRepresentation
{
    static readonly BertBasicTokenizer Basic = new(lowerCase: true);
    readonly WordVectors vectors;

    /// <summary>A representation over <paramref name="vectors"/>, called <paramref name="name"/> in tables.</summary>
    public StaticLayers(WordVectors vectors, string name)
    {
        this.vectors = vectors;
        Name = name;
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> LayerNames { get; } = ["static"];

    /// <inheritdoc />
    public LayeredTokens Encode(string text)
    {
        var words = Basic.Tokenize(text).Where(t => t.Text.Any(char.IsLetterOrDigit)).ToList();
        var row = words.Select(w => vectors.IdOf(w.Text) is int id and >= 0 ? vectors[id].ToArray() : null).ToArray();
        return new LayeredTokens(words.Select(w => new CharSpan(w.Start, w.End)).ToList(), [row]);
    }
}
