using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Generation;

public sealed record MaskCandidate(int Id, string Token, double Probability);

/// <summary>BERT's masked-LM head as a tool: the most likely tokens for each [MASK] in a sentence.</summary>
public sealed class MaskFiller(BertForPreTraining model, WordPieceTokenizer tokenizer)
{
    /// <summary>For each [MASK] in <paramref name="text"/>, in order, the <paramref name="topK"/> most likely tokens.</summary>
    public IReadOnlyList<IReadOnlyList<MaskCandidate>> Fill(string text, int topK = 5)
    {
        if (topK <= 0) throw new InvalidInputException($"--top-k must be positive (got {topK})");
        var encoding = tokenizer.EncodePair(text, null, model.Config.MaxPositionEmbeddings, TruncationStrategy.None);
        var positions = Enumerable.Range(0, encoding.Length).Where(i => encoding.InputIds[i] == tokenizer.MaskId).ToArray();
        if (positions.Length == 0) throw new InvalidInputException($"the text has no {WordPieceTokenizer.MaskToken} token to fill: \"{text}\"");
        model.eval();
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
