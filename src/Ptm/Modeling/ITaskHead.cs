using static TorchSharp.torch;

namespace Ptm.Modeling;

/// <summary>
/// What every task head reads, batched as (B, K, T): K sequences per example (1 for one text or a pair; the choices
/// for multiple choice; GPT's two orders for similarity). <see cref="LastIndex"/> (B, K) is each sequence's last real
/// token, where a GPT head reads its summary vector; BERT heads read <see cref="TokenTypeIds"/> and
/// <see cref="AttentionMask"/> instead.
/// </summary>
public sealed record TaskHeadInputs(Tensor InputIds, Tensor TokenTypeIds, Tensor AttentionMask, Tensor LastIndex);

/// <summary>
/// A pre-trained encoder with a task head (Hugging Face's XForSequenceClassification, ...ForMultipleChoice,
/// ...ForTokenClassification, ...ForQuestionAnswering), for either family. The head module owns its encoder:
/// disposing it frees both.
/// </summary>
public interface ITaskHead
{
    /// <summary>The encoder's family.</summary>
    ModelFamily Family { get; }

    /// <summary>
    /// Task scores: logits (B, L) for a sequence classifier, (B, K) for multiple choice, (B, T, L) for tagging,
    /// start/end logits (B, T, 2) for span QA; and, when <paramref name="withLm"/> and the family has a language
    /// model (GPT), the LM logits (B·K, T, V) of the same inputs for GPT-1's auxiliary loss; otherwise null.
    /// </summary>
    (Tensor Scores, Tensor? LmLogits) Forward(TaskHeadInputs inputs, bool withLm);
}

/// <summary>A BERT task head: reads ids, segment ids and attention mask; has no language-model output.</summary>
public interface IBertTaskHead : ITaskHead
{
    /// <summary>The encoder (owned by the head).</summary>
    BertModel Bert { get; }

    ModelFamily ITaskHead.Family => ModelFamily.Bert;
}
