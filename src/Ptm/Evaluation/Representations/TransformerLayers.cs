using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Evaluation.Representations;

/// <summary>
/// A BERT encoder's hidden states as a representation: layer 0 is the embedding output, layer i the output of block i.
/// A text is encoded alone (<c>[CLS] text [SEP]</c>, cut to <c>max_position_embeddings</c>); [CLS] and [SEP] are left
/// out of the tokens. The model is borrowed (the caller disposes it); each call leaves its train/eval mode as it was.
/// </summary>
public sealed class BertLayers : ILayeredRepresentation
{
    readonly BertModel model;
    readonly WordPieceTokenizer tokenizer;

    /// <summary>A representation over <paramref name="model"/> and its <paramref name="tokenizer"/>.</summary>
    public BertLayers(BertModel model, WordPieceTokenizer tokenizer, string name = "bert")
    {
        this.model = model;
        this.tokenizer = tokenizer;
        Name = name;
        LayerNames = TransformerLayerNames.For(model.Config.NumHiddenLayers);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> LayerNames { get; }

    /// <inheritdoc />
    public LayeredTokens Encode(string text)
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
        var keep = Enumerable.Range(0, (int)T).Where(t => !encoding.SpecialTokensMask[t]).ToArray();
        var states = model.HiddenStates(inputs);                                   // each (1, T, H)
        return new LayeredTokens(keep.Select(t => encoding.Offsets[t]).ToList(),
            states.Select(s => TransformerLayerNames.Rows(s[0], keep)).ToList(), encoding.IsTruncated);
    }
}

/// <summary>
/// A GPT's hidden states as a representation: layer 0 is the embedding output (token + position), layer i the output
/// of block i, the last after the final LayerNorm of a pre-LN model (<see cref="GptTransformer.HiddenStates"/>).
/// Causal: a token's vector sees only the tokens before it. The text is read after the document separator when the
/// vocabulary has one (GPT-2's <c>&lt;|endoftext|&gt;</c>), as a document starts in pre-training, so the first word
/// is not at a position the model only ever saw as a document's first token; the separator is left out of the
/// tokens. Cut to <c>n_positions</c>. The model is borrowed; each call leaves its train/eval mode as it was.
/// </summary>
public sealed class GptLayers : ILayeredRepresentation
{
    readonly Gpt model;
    readonly ByteLevelBpeTokenizer tokenizer;

    /// <summary>A representation over <paramref name="model"/> and its byte-level BPE <paramref name="tokenizer"/>.</summary>
    public GptLayers(Gpt model, ByteLevelBpeTokenizer tokenizer, string name = "gpt")
    {
        this.model = model;
        this.tokenizer = tokenizer;
        Name = name;
        LayerNames = TransformerLayerNames.For(model.Config.NLayer);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> LayerNames { get; }

    /// <inheritdoc />
    public LayeredTokens Encode(string text)
    {
        var (ids, offsets) = tokenizer.EncodeWithOffsets(text);
        int prefix = tokenizer.EndOfTextId is null ? 0 : 1;
        int n = Math.Min(ids.Length, model.Config.NPositions - prefix);
        var input = new long[prefix + n];
        if (prefix == 1) input[0] = tokenizer.EndOfTextId!.Value;
        for (int i = 0; i < n; i++) input[prefix + i] = ids[i];
        using var mode = EvalMode.Enter(model);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var keep = Enumerable.Range(prefix, n).ToArray();
        var states = model.Transformer.HiddenStates(tensor(input, 1, input.Length));   // each (1, T, C)
        return new LayeredTokens(offsets.Take(n).ToList(),
            states.Select(s => TransformerLayerNames.Rows(s[0], keep)).ToList(), n < ids.Length);
    }
}

/// <summary>Shared by the Transformer representations: layer names and reading token rows out of a state.</summary>
internal static class TransformerLayerNames
{
    /// <summary><c>0 (embeddings)</c>, then <c>1</c> … <paramref name="blocks"/>.</summary>
    public static IReadOnlyList<string> For(int blocks) =>
        Enumerable.Range(0, blocks + 1).Select(i => i == 0 ? "0 (embeddings)" : i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();

    /// <summary>The rows <paramref name="keep"/> of a (T, C) state, as float32 arrays.</summary>
    public static float[]?[] Rows(Tensor state, int[] keep)
    {
        var data = state.to(ScalarType.Float32).contiguous().data<float>().ToArray();
        int c = (int)state.shape[1];
        return keep.Select(t => (float[]?)data.AsSpan(t * c, c).ToArray()).ToArray();
    }
}
