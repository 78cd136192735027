using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// GPT for tagging, as Hugging Face's GPT2ForTokenClassification: dropout and a linear layer on every final hidden
/// vector. Keys: <c>transformer.*</c>, <c>classifier.weight</c> (L, C), <c>classifier.bias</c>. The model is causal,
/// so a token's vector has seen only the tokens to its left (HF's class does the same). The dropout is the model's
/// <c>resid_pdrop</c>, as for the other GPT heads (HF falls back to 0.1 when the config names no classifier dropout).
/// </summary>
public sealed class GptForTokenClassification : Module<Tensor, Tensor>, IGptTaskHead
{
    readonly GptTransformer transformer;
    readonly Dropout dropout;
    readonly TorchSharp.Modules.Linear classifier;

    /// <summary>A head over <paramref name="transformer"/> (which it takes ownership of) with a fresh <c>classifier</c>
    /// for <paramref name="numLabels"/> tags.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numLabels"/> is below 1.</exception>
    public GptForTokenClassification(GptTransformer transformer, int numLabels) : base("GPT2ForTokenClassification")
    {
        if (numLabels < 1) throw new ArgumentOutOfRangeException(nameof(numLabels), numLabels, "at least one label");
        this.transformer = transformer;
        NumLabels = numLabels;
        dropout = Dropout(transformer.Config.ResidPdrop);
        classifier = Linear(transformer.Config.NEmbd, numLabels);
        RegisterComponents();
        GptHeadInit.Apply(classifier, transformer.Config);
    }

    /// <inheritdoc />
    public GptTransformer Transformer => transformer;

    /// <summary>Number of tags, the width of each position's logits.</summary>
    public int NumLabels { get; }

    /// <summary>Ids (B, T) to logits (B, T, num_labels).</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        return classifier.forward(dropout.forward(transformer.forward(inputIds))).MoveToOuterDisposeScope();
    }

    /// <summary>Ids (B, 1, T) to logits (B, T, num_labels) and optional LM logits (B, T, V). Padding follows the
    /// last real token and, the model being causal, changes no real token's vector; its labels are -100.
    /// <paramref name="lastIndex"/> is not needed here (the LM loss reads it).</summary>
    public (Tensor Logits, Tensor? LmLogits) Forward(Tensor inputIds, Tensor lastIndex, bool withLm) =>
        GptTokenVectors.Score(transformer, inputIds, h => classifier.forward(dropout.forward(h)), withLm);
}

/// <summary>
/// GPT for extractive QA, as Hugging Face's GPT2ForQuestionAnswering: a Linear(C, 2) on every final hidden vector gives
/// the start and end logits. Keys: <c>transformer.*</c>, <c>qa_outputs.weight</c> (2, C), <c>qa_outputs.bias</c>; no
/// dropout on the head (as HF). Causal: a context token's vector sees the question (which comes first) and the context
/// to its left, never to its right.
/// </summary>
public sealed class GptForQuestionAnswering : Module<Tensor, Tensor>, IGptTaskHead
{
    readonly GptTransformer transformer;
    readonly TorchSharp.Modules.Linear qa_outputs;

    /// <summary>A head over <paramref name="transformer"/> (which it takes ownership of) with a fresh <c>qa_outputs</c> layer.</summary>
    public GptForQuestionAnswering(GptTransformer transformer) : base("GPT2ForQuestionAnswering")
    {
        this.transformer = transformer;
        qa_outputs = Linear(transformer.Config.NEmbd, 2);
        RegisterComponents();
        GptHeadInit.Apply(qa_outputs, transformer.Config);
    }

    /// <inheritdoc />
    public GptTransformer Transformer => transformer;

    /// <summary>Ids (B, T) to start and end logits stacked as (B, T, 2).</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        return qa_outputs.forward(transformer.forward(inputIds)).MoveToOuterDisposeScope();
    }

    /// <summary>Ids (B, 1, T) to start/end logits (B, T, 2) and optional LM logits (B, T, V).</summary>
    public (Tensor Logits, Tensor? LmLogits) Forward(Tensor inputIds, Tensor lastIndex, bool withLm) =>
        GptTokenVectors.Score(transformer, inputIds, qa_outputs.forward, withLm);
}

static class GptTokenVectors
{
    /// <summary>Runs one sequence per example, ids (B, 1, T), and applies <paramref name="head"/> to every final hidden
    /// vector (B, T, C); the LM logits (B, T, V) come from the same vectors.</summary>
    public static (Tensor Logits, Tensor? LmLogits) Score(GptTransformer transformer, Tensor inputIds, Func<Tensor, Tensor> head, bool withLm)
    {
        if (inputIds.dim() != 3 || inputIds.shape[1] != 1)
            throw new ArgumentException($"token-level heads take one sequence per example, ids (B, 1, T); got ({string.Join(", ", inputIds.shape)})", nameof(inputIds));
        using var scope = NewDisposeScope();
        var hidden = transformer.forward(inputIds.squeeze(1));                 // (B, T, C)
        var logits = head(hidden);                                             // (B, T, L)
        var lm = withLm ? transformer.LmLogits(hidden).MoveToOuterDisposeScope() : null;
        return (logits.MoveToOuterDisposeScope(), lm);
    }
}
