using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// BERT with a linear layer on the pooled [CLS] vector (Devlin et al. 2018, §4.1), under Hugging Face's
/// BertForSequenceClassification names: <c>bert.*</c> and <c>classifier.weight</c>/<c>classifier.bias</c>.
/// With one label it scores similarity (trained with mean squared error), as HF does for STS-B.
/// </summary>
public sealed class BertForSequenceClassification : Module<BertInputs, Tensor>, IBertTaskHead
{
    readonly BertModel bert;
    readonly Dropout dropout;
    readonly TorchSharp.Modules.Linear classifier;

    /// <summary>Wraps an encoder (e.g. a pre-trained one); only the classifier is initialised here.</summary>
    public BertForSequenceClassification(BertModel bert, int numLabels) : base("BertForSequenceClassification")
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

    /// <summary>Outputs per example: the classes, or 1 for a similarity score.</summary>
    public int NumLabels { get; }

    /// <summary>Logits (B, num_labels); for regression (B, 1).</summary>
    public override Tensor forward(BertInputs inputs)
    {
        using var scope = NewDisposeScope();
        var (_, pooled) = bert.forward(inputs);                                 // (B, H)
        return classifier.forward(dropout.forward(pooled)).MoveToOuterDisposeScope();
    }

    /// <summary>Task inputs with one sequence per example (K = 1); <paramref name="withLm"/> is ignored (BERT has no LM output here).</summary>
    public (Tensor Scores, Tensor? LmLogits) Forward(TaskHeadInputs inputs, bool withLm) =>
        (forward(new BertInputs(inputs.InputIds[.., 0], inputs.TokenTypeIds[.., 0], inputs.AttentionMask[.., 0])), null);
}

/// <summary>
/// BERT for multiple choice (as used for SWAG in Devlin et al. 2018, §4.4): every (context, choice) pair is encoded
/// separately, a linear layer turns each pooled [CLS] into one score, and a softmax runs over the choices.
/// Hugging Face's BertForMultipleChoice names: <c>bert.*</c>, <c>classifier.weight</c> (1, H), <c>classifier.bias</c>.
/// </summary>
public sealed class BertForMultipleChoice : Module<BertInputs, Tensor>, IBertTaskHead
{
    readonly BertModel bert;
    readonly Dropout dropout;
    readonly TorchSharp.Modules.Linear classifier;

    /// <summary>Wraps an encoder; only the classifier is initialised here.</summary>
    public BertForMultipleChoice(BertModel bert) : base("BertForMultipleChoice")
    {
        this.bert = bert;
        dropout = Dropout(bert.Config.HiddenDropoutProb);
        classifier = Linear(bert.Config.HiddenSize, 1);
        RegisterComponents();
        BertHeadInit.Apply(classifier, bert.Config);
    }

    /// <inheritdoc/>
    public BertModel Bert => bert;

    /// <summary>All K choices of each example; <paramref name="withLm"/> is ignored.</summary>
    public (Tensor Scores, Tensor? LmLogits) Forward(TaskHeadInputs inputs, bool withLm) =>
        (forward(new BertInputs(inputs.InputIds, inputs.TokenTypeIds, inputs.AttentionMask)), null);

    /// <summary>Inputs (B, K, T), K choices per example, to scores (B, K).</summary>
    public override Tensor forward(BertInputs inputs)
    {
        using var scope = NewDisposeScope();
        long B = inputs.InputIds.shape[0], K = inputs.InputIds.shape[1], T = inputs.InputIds.shape[2];
        var flat = new BertInputs(inputs.InputIds.reshape(B * K, T), inputs.TokenTypeIds.reshape(B * K, T), inputs.AttentionMask.reshape(B * K, T));
        var (_, pooled) = bert.forward(flat);                                  // (B·K, H)
        return classifier.forward(dropout.forward(pooled)).view(B, K).MoveToOuterDisposeScope();
    }
}

/// <summary>A fresh head gets BERT's own initialisation: N(0, initializer_range) weights, zero bias.</summary>
static class BertHeadInit
{
    public static void Apply(TorchSharp.Modules.Linear layer, BertConfig config)
    {
        using var _ = no_grad();
        init.normal_(layer.weight!, 0, config.InitializerRange);
        if (layer.bias is { } b) init.zeros_(b);
    }
}
