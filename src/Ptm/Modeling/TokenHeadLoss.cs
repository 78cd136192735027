using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>The losses of the token-level heads, the same for BERT and GPT (as in Hugging Face's *ForTokenClassification
/// and *ForQuestionAnswering).</summary>
public static class TokenHeadLoss
{
    /// <summary>Label of a position that takes no part in the loss (HF's and PyTorch's ignore index).</summary>
    public const long IgnoreIndex = -100;

    /// <summary>Tagging: mean cross-entropy of logits (B, T, L) over the positions whose label is not <see cref="IgnoreIndex"/>.</summary>
    public static Tensor Tagging(Tensor logits, Tensor labels) =>
        functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), labels.reshape(-1), ignore_index: IgnoreIndex);

    /// <summary>Span QA (BERT §4.2): the mean of the start and end cross-entropies of logits (B, T, 2) over the window's positions.</summary>
    public static Tensor Span(Tensor logits, Tensor starts, Tensor ends)
    {
        using var scope = NewDisposeScope();
        var start = functional.cross_entropy(logits[.., .., 0], starts);
        var end = functional.cross_entropy(logits[.., .., 1], ends);
        return ((start + end) / 2).MoveToOuterDisposeScope();
    }
}
