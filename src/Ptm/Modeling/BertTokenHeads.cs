using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// BERT for tagging (NER in Devlin et al. 2018, §5.3): a linear layer on every final hidden vector. Hugging Face's
/// BertForTokenClassification names: <c>bert.*</c>, <c>classifier.weight</c> (L, H), <c>classifier.bias</c>.
/// (HF builds its encoder without the pooler; ours keeps <c>bert.pooler.*</c>, which HF skips as unused keys.)
/// </summary>
public sealed class BertForTokenClassification : Module<BertInputs, Tensor>, IBertTaskHead
{
    readonly BertModel bert;
    readonly Dropout dropout;
    readonly TorchSharp.Modules.Linear classifier;

    /// <summary>Wraps an encoder; only the classifier is initialised here.</summary>
    public BertForTokenClassification(BertModel bert, int numLabels) : base("BertForTokenClassification")
    {
        if (numLabels < 1) throw new ArgumentOutOfRangeException(nameof(numLabels), numLabels, "at least one label");
        this.bert = bert;
        NumLabels = numLabels;
        dropout = Dropout(bert.Config.HiddenDropoutProb);
        classifier = Linear(bert.Config.HiddenSize, numLabels);
        RegisterComponents();
        BertHeadInit.Apply(classifier, bert.Config);
    }

    /// <inheritdoc/>
    public BertModel Bert => bert;

    /// <summary>Tags per token.</summary>
    public int NumLabels { get; }

    /// <summary>Task inputs with one sequence per example (K = 1); <paramref name="withLm"/> is ignored (BERT has no LM output here).</summary>
    public (Tensor Scores, Tensor? LmLogits) Forward(TaskHeadInputs inputs, bool withLm) =>
        (forward(new BertInputs(inputs.InputIds[.., 0], inputs.TokenTypeIds[.., 0], inputs.AttentionMask[.., 0])), null);

    /// <summary>Logits (B, T, num_labels).</summary>
    public override Tensor forward(BertInputs inputs)
    {
        using var scope = NewDisposeScope();
        var (sequence, _) = bert.forward(inputs);                               // (B, T, H)
        return classifier.forward(dropout.forward(sequence)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// BERT for extractive QA (SQuAD, Devlin et al. 2018, §4.2): a start vector S and an end vector E, i.e. a
/// Linear(H, 2), score every token as the answer's first and last token. Hugging Face's BertForQuestionAnswering
/// names: <c>bert.*</c>, <c>qa_outputs.weight</c> (2, H), <c>qa_outputs.bias</c>; like HF, no dropout on the head.
/// </summary>
public sealed class BertForQuestionAnswering : Module<BertInputs, Tensor>, IBertTaskHead
{
    readonly BertModel bert;
    readonly TorchSharp.Modules.Linear qa_outputs;

    /// <summary>Wraps an encoder; only the start/end layer is initialised here.</summary>
    public BertForQuestionAnswering(BertModel bert) : base("BertForQuestionAnswering")
    {
        this.bert = bert;
        qa_outputs = Linear(bert.Config.HiddenSize, 2);
        RegisterComponents();
        BertHeadInit.Apply(qa_outputs, bert.Config);
    }

    /// <inheritdoc/>
    public BertModel Bert => bert;

    /// <summary>Task inputs with one sequence per example (K = 1); <paramref name="withLm"/> is ignored (BERT has no LM output here).</summary>
    public (Tensor Scores, Tensor? LmLogits) Forward(TaskHeadInputs inputs, bool withLm) =>
        (forward(new BertInputs(inputs.InputIds[.., 0], inputs.TokenTypeIds[.., 0], inputs.AttentionMask[.., 0])), null);

    /// <summary>Start and end logits stacked as (B, T, 2).</summary>
    public override Tensor forward(BertInputs inputs)
    {
        using var scope = NewDisposeScope();
        var (sequence, _) = bert.forward(inputs);
        return qa_outputs.forward(sequence).MoveToOuterDisposeScope();
    }
}
