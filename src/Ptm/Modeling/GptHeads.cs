using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// A GPT task head: ids (B, K, T) and the index of each sequence's last real token (B, K) to the task's scores
/// and, when <c>withLm</c>, the LM logits (B·K, T, V) of the same inputs for GPT-1's auxiliary loss. Segment ids and
/// attention mask are not read: the model is causal and padding follows the last real token.
/// </summary>
public interface IGptTaskHead : ITaskHead
{
    /// <summary>The transformer (owned by the head).</summary>
    GptTransformer Transformer { get; }

    /// <summary>Scores and optional LM logits from ids and last indices.</summary>
    (Tensor Logits, Tensor? LmLogits) Forward(Tensor inputIds, Tensor lastIndex, bool withLm);

    ModelFamily ITaskHead.Family => ModelFamily.Gpt2;

    (Tensor Scores, Tensor? LmLogits) ITaskHead.Forward(TaskHeadInputs inputs, bool withLm) =>
        Forward(inputs.InputIds, inputs.LastIndex, withLm);
}

/// <summary>
/// GPT-1's supervised fine-tuning head (Radford et al. 2018, §3.2): the final token's hidden state (the
/// <c>&lt;|extract|&gt;</c> token of the input transformations) feeds a linear layer. Names follow Hugging Face's
/// GPT2ForSequenceClassification: <c>transformer.*</c> and <c>score.weight</c> (no bias). Inputs are (B, K, T):
/// K = 1 for one text or an ordered pair; K = 2 for similarity, where the two orders' final vectors are added
/// element-wise before the linear layer (§3.3). Returns the task logits and, on request, the LM logits of every
/// input sequence for the auxiliary language-modelling loss L3 = L2 + λ·L1.
/// </summary>
public sealed class GptForSequenceClassification : Module<Tensor, Tensor>, IGptTaskHead
{
    readonly GptTransformer transformer;
    readonly Dropout dropout;
    readonly TorchSharp.Modules.Linear score;

    /// <summary>A head over <paramref name="transformer"/> (which it takes ownership of) with a fresh <c>score</c> layer
    /// for <paramref name="numLabels"/> classes.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="numLabels"/> is below 1.</exception>
    public GptForSequenceClassification(GptTransformer transformer, int numLabels) : base("GPT2ForSequenceClassification")
    {
        if (numLabels < 1) throw new ArgumentOutOfRangeException(nameof(numLabels), numLabels, "at least one label");
        this.transformer = transformer;
        NumLabels = numLabels;
        // GPT-1 adds dropout (0.1) to the classifier; the model's residual dropout rate is that value.
        dropout = Dropout(transformer.Config.ResidPdrop);
        score = Linear(transformer.Config.NEmbd, numLabels, hasBias: false);
        RegisterComponents();
        GptHeadInit.Apply(score, transformer.Config);
    }

    /// <inheritdoc />
    public GptTransformer Transformer => transformer;

    /// <summary>Number of classes, the width of the logits.</summary>
    public int NumLabels { get; }

    /// <summary>Ids (B, K, T) with no padding (every last index is T - 1) to logits (B, num_labels).</summary>
    public override Tensor forward(Tensor inputIds) =>
        Forward(inputIds, full(new[] { inputIds.shape[0], inputIds.shape[1] }, inputIds.shape[2] - 1, ScalarType.Int64), false).Logits;

    /// <summary>Ids (B, K, T) and the index of each sequence's last real token (B, K) to logits (B, num_labels)
    /// and, when <paramref name="withLm"/>, LM logits (B·K, T, V).</summary>
    public (Tensor Logits, Tensor? LmLogits) Forward(Tensor inputIds, Tensor lastIndex, bool withLm)
    {
        using var scope = NewDisposeScope();
        var (finals, hidden) = GptFinalVectors.Of(transformer, inputIds, lastIndex); // (B, K, C), (B·K, T, C)
        var logits = score.forward(dropout.forward(finals.sum(1)));            // (B, L)
        var lm = withLm ? transformer.LmLogits(hidden).MoveToOuterDisposeScope() : null;
        return (logits.MoveToOuterDisposeScope(), lm);
    }
}

/// <summary>
/// GPT-1's multiple-choice head (§3.3, RACE and Story Cloze): each <c>[start] context [delim] answer [extract]</c>
/// sequence is scored by a linear layer on its final hidden state and a softmax runs over the choices.
/// Keys: <c>transformer.*</c> and <c>score.weight</c> (1, C).
/// </summary>
public sealed class GptForMultipleChoice : Module<Tensor, Tensor>, IGptTaskHead
{
    readonly GptTransformer transformer;
    readonly Dropout dropout;
    readonly TorchSharp.Modules.Linear score;

    /// <summary>A head over <paramref name="transformer"/> (which it takes ownership of) with a fresh <c>score</c> layer.</summary>
    public GptForMultipleChoice(GptTransformer transformer) : base("GPT2ForMultipleChoice")
    {
        this.transformer = transformer;
        dropout = Dropout(transformer.Config.ResidPdrop);
        score = Linear(transformer.Config.NEmbd, 1, hasBias: false);
        RegisterComponents();
        GptHeadInit.Apply(score, transformer.Config);
    }

    /// <inheritdoc />
    public GptTransformer Transformer => transformer;

    /// <summary>Ids (B, K, T) with no padding (every last index is T - 1) to choice scores (B, K).</summary>
    public override Tensor forward(Tensor inputIds) =>
        Forward(inputIds, full(new[] { inputIds.shape[0], inputIds.shape[1] }, inputIds.shape[2] - 1, ScalarType.Int64), false).Logits;

    /// <summary>Ids (B, K, T), last indices (B, K) to choice scores (B, K) and optional LM logits (B·K, T, V).</summary>
    public (Tensor Logits, Tensor? LmLogits) Forward(Tensor inputIds, Tensor lastIndex, bool withLm)
    {
        using var scope = NewDisposeScope();
        var (finals, hidden) = GptFinalVectors.Of(transformer, inputIds, lastIndex);
        var scores = score.forward(dropout.forward(finals)).squeeze(-1);       // (B, K)
        var lm = withLm ? transformer.LmLogits(hidden).MoveToOuterDisposeScope() : null;
        return (scores.MoveToOuterDisposeScope(), lm);
    }
}

static class GptFinalVectors
{
    /// <summary>Runs every sequence and picks the hidden state at its last real token. The model is causal, so
    /// padding after that token cannot change it and needs no attention mask.</summary>
    public static (Tensor Finals, Tensor Hidden) Of(GptTransformer transformer, Tensor inputIds, Tensor lastIndex)
    {
        long B = inputIds.shape[0], K = inputIds.shape[1], T = inputIds.shape[2];
        var hidden = transformer.forward(inputIds.reshape(B * K, T));          // (B·K, T, C)
        long C = hidden.shape[^1];
        var at = lastIndex.reshape(B * K, 1, 1).expand(B * K, 1, C);
        var finals = hidden.gather(1, at).squeeze(1).view(B, K, C);            // (B, K, C)
        return (finals, hidden);
    }

    /// <summary>GPT-1's auxiliary objective L1 on the task inputs: mean next-token cross-entropy over real tokens.</summary>
    public static Tensor LmLoss(Tensor lmLogits, Tensor inputIds, Tensor lastIndex)
    {
        long T = inputIds.shape[^1];
        var ids = inputIds.reshape(-1, T);                                     // (N, T)
        var last = lastIndex.reshape(-1, 1);                                   // (N, 1)
        var positions = arange(T, dtype: ScalarType.Int64, device: ids.device).unsqueeze(0); // (1, T)
        // Position t predicts token t+1, which exists only while t < last.
        var targets = ids.roll(-1, 1).masked_fill(positions.ge(last), -100);
        return Gpt.Loss(lmLogits, targets);
    }
}

internal static class GptTaskLoss
{
    /// <summary>L1 of GPT-1 (§3.2) for a batch: the task inputs' own next-token loss, padding ignored.</summary>
    public static Tensor LanguageModel(Tensor lmLogits, Tensor inputIds, Tensor lastIndex) => GptFinalVectors.LmLoss(lmLogits, inputIds, lastIndex);
}

/// <summary>A fresh head gets GPT's own initialisation: N(0, initializer_range) weights, zero bias.</summary>
static class GptHeadInit
{
    public static void Apply(TorchSharp.Modules.Linear layer, GptConfig config)
    {
        using var _ = no_grad();
        init.normal_(layer.weight!, 0, config.InitializerRange);
        if (layer.bias is { } b) init.zeros_(b);
    }
}
