using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>One candidate for a [MASK]: its vocabulary id, WordPiece text and probability under the masked-LM head.</summary>
public sealed record MaskCandidate(int Id, string Token, double Probability);

/// <summary>How many candidates <see cref="MaskFiller"/> lists per [MASK].</summary>
public sealed record FillMaskOptions
{
    /// <summary>Candidates per [MASK], most likely first; at least 1 (default 5).</summary>
    public int TopK { get; init; } = 5;

    /// <summary>Throws <see cref="InvalidOptionException"/> when <see cref="TopK"/> is below 1.</summary>
    public void Validate()
    {
        if (TopK <= 0) throw new InvalidOptionException(nameof(FillMaskOptions), nameof(TopK), "must be positive", TopK);
    }
}

/// <summary>
/// BERT's masked-LM head as a tool: the most likely tokens for each [MASK] in a sentence. Borrows the model (the
/// caller disposes it) and leaves its train/eval mode as it found it.
/// </summary>
public sealed class MaskFiller(BertForPreTraining model, WordPieceTokenizer tokenizer)
{
    /// <summary>For each [MASK] in <paramref name="text"/>, in order, the <paramref name="topK"/> most likely tokens.</summary>
    public IReadOnlyList<IReadOnlyList<MaskCandidate>> Fill(string text, int topK = 5) => Fill(text, new FillMaskOptions { TopK = topK });

    /// <summary>For each [MASK] in <paramref name="text"/>, in order, the <see cref="FillMaskOptions.TopK"/> most likely tokens.</summary>
    public IReadOnlyList<IReadOnlyList<MaskCandidate>> Fill(string text, FillMaskOptions options)
    {
        options.Validate();
        int topK = options.TopK;
        var encoding = tokenizer.EncodePair(text, null, model.Config.MaxPositionEmbeddings, TruncationStrategy.None);
        var positions = Enumerable.Range(0, encoding.Length).Where(i => encoding.InputIds[i] == tokenizer.MaskId).ToArray();
        if (positions.Length == 0) throw new InvalidInputException($"the text has no {WordPieceTokenizer.MaskToken} token to fill: \"{text}\"");
        using var mode = EvalMode.Enter(model);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        long T = encoding.Length;
        var inputs = new BertInputs(
            tensor(encoding.InputIds.Select(i => (long)i).ToArray(), 1, T),
            tensor(encoding.TokenTypeIds.Select(i => (long)i).ToArray(), 1, T),
            ones(1, T, ScalarType.Int64));
        var (logits, _) = model.forward(inputs);                              // (1, T, V)
        var result = new List<IReadOnlyList<MaskCandidate>>();
        foreach (int p in positions)
        {
            var probs = logits[0, p].softmax(-1);
            var (values, indices) = probs.topk(Math.Min(topK, (int)probs.shape[0]));
            var v = values.data<float>().ToArray();
            var ix = indices.data<long>().ToArray();
            result.Add(ix.Select((id, i) => new MaskCandidate((int)id, tokenizer.TokenText((int)id), v[i])).ToList());
        }
        return result;
    }
}
