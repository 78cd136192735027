using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// One ELECTRA pre-training pass over a batch: the generator's MLM logits (N, V) at the N masked positions and their
/// labels (N); the discriminator's input (B, T) with the generator's samples in place of the masked tokens; its
/// replaced-token logits (B, T); and the replaced-token labels (B, T), 1 where the input differs from the original text.
/// </summary>
public sealed record ElectraOutput(Tensor GeneratorLogits, Tensor MlmLabels, Tensor Corrupted, Tensor RtdLogits, Tensor RtdLabels);

/// <summary>
/// ELECTRA (Clark et al. 2020): a small masked-LM generator fills the masked positions with tokens sampled from its
/// softmax, and the discriminator, a BERT encoder with a per-token binary head, learns to tell which tokens of the
/// whole sequence were replaced. Both read one embedding module (word, position and token-type tables and their
/// LayerNorm); the generator is narrower and projects the shared embeddings to its width, as HF's
/// <c>embeddings_project</c>. Gradients do not flow through the sampling: the generator learns from its MLM loss only.
/// <para>Names follow Hugging Face's ElectraForPreTraining for the discriminator: <c>electra.embeddings.*</c>,
/// <c>electra.encoder.layer.N.*</c>, <c>discriminator_predictions.dense</c>, <c>discriminator_predictions.dense_prediction</c>
/// (plus <c>electra.pooler.*</c>, BERT's pooler, which HF's Electra lacks and the RTD loss does not train). The
/// generator, HF's ElectraForMaskedLM without its own embeddings, lives under <c>generator.</c>:
/// <c>generator.encoder.embedding_hidden_mapping_in</c> (HF <c>electra.embeddings_project</c>),
/// <c>generator.encoder.layer.N.*</c>, <c>generator.generator_predictions.{dense,LayerNorm}</c> and
/// <c>generator.generator_lm_head.bias</c> (its weight is tied to the shared word embeddings).</para>
/// <para>The discriminator is a <see cref="BertForPreTraining"/> (<see cref="Discriminator"/>) whose encoder is
/// <c>electra</c>; its MLM and pair heads (<c>cls.*</c>) are not part of ELECTRA and stay at their initialisation, so
/// the discriminator saved as a BERT model folder fine-tunes and embeds like any BERT but does not fill masks.</para>
/// </summary>
public sealed class ElectraForPreTraining : nn.Module
{
    readonly BertForPreTraining discriminator;
    readonly BertModel electra;
    readonly ElectraDiscriminatorPredictions discriminator_predictions;
    readonly ElectraGenerator generator;

    /// <summary>A freshly initialised model (BERT's initialisation for every part).</summary>
    /// <param name="config">the discriminator's hyper-parameters</param>
    /// <param name="generatorSize">the generator's hidden, intermediate and head counts as a fraction of the discriminator's (ELECTRA: 1/4)</param>
    /// <exception cref="InvalidInputException">A field of <paramref name="config"/> is out of range, or the generator it implies is not valid.</exception>
    public ElectraForPreTraining(BertConfig config, double generatorSize = 0.25) : base("ElectraForPreTraining")
    {
        config.Validate("model config");
        Config = config;
        GeneratorSize = generatorSize;
        GeneratorConfig = GeneratorConfigFor(config, generatorSize);
        discriminator = new BertForPreTraining(config);
        electra = discriminator.Bert;
        discriminator_predictions = new ElectraDiscriminatorPredictions(config);
        generator = new ElectraGenerator(GeneratorConfig);
        register_module("electra", electra);
        register_module("discriminator_predictions", discriminator_predictions);
        register_module("generator", generator);
        BertInit.Apply(discriminator_predictions, config);
        BertInit.Apply(generator, GeneratorConfig);
    }

    /// <summary>The discriminator's hyper-parameters (a BERT config; also the saved model folder's config.json).</summary>
    public BertConfig Config { get; }

    /// <summary>The generator's hidden size, intermediate size and heads as a fraction of the discriminator's.</summary>
    public double GeneratorSize { get; }

    /// <summary>The generator's hyper-parameters: the discriminator's scaled by the generator size, with
    /// <c>embedding_size</c> set to the shared embeddings' width.</summary>
    public BertConfig GeneratorConfig { get; }

    /// <summary>The discriminator as a BERT: its encoder is this model's <c>electra</c>; its <c>cls.*</c> heads are untrained.</summary>
    public BertForPreTraining Discriminator => discriminator;

    /// <summary>
    /// The generator's config for a discriminator: hidden size, intermediate size and heads times
    /// <paramref name="fraction"/> (at least 1 each), reading the discriminator's embeddings.
    /// </summary>
    /// <exception cref="InvalidInputException">The fraction is not in (0, 1], or the scaled hidden size is not divisible by the scaled heads.</exception>
    public static BertConfig GeneratorConfigFor(BertConfig discriminator, double fraction)
    {
        if (!(fraction > 0 && fraction <= 1))
            throw new InvalidInputException($"ELECTRA generator size must be in (0, 1] (got {fraction})");
        int Scale(int n) => Math.Max(1, (int)Math.Round(n * fraction));
        var config = discriminator with
        {
            HiddenSize = Scale(discriminator.HiddenSize),
            NumAttentionHeads = Scale(discriminator.NumAttentionHeads),
            IntermediateSize = Scale(discriminator.IntermediateSize),
            EmbeddingSize = discriminator.EmbeddingWidth,
            Architectures = ["ElectraForMaskedLM"],
        };
        config.Validate($"ELECTRA generator ({fraction} of the discriminator)");
        return config;
    }

    /// <summary>
    /// The generator's MLM logits (N, V) at the N positions whose label is not -100 (row-major order), those labels (N)
    /// and the positions' flat indices into (B·T).
    /// </summary>
    public (Tensor Logits, Tensor Labels, Tensor Chosen) Generate(BertInputs inputs, Tensor mlmLabels)
    {
        using var scope = NewDisposeScope();
        var x = electra.Embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds);          // (B, T, E) shared
        var keep = inputs.AttentionMask.to(ScalarType.Bool).unsqueeze(1).unsqueeze(2);     // (B, 1, 1, T)
        var h = generator.Encode(x, keep);                                                   // (B, T, Hg)
        var flatLabels = mlmLabels.reshape(-1);                                              // (B·T)
        var chosen = flatLabels.ne(-100).nonzero().squeeze(1);                               // (N)
        var hidden = h.reshape(-1, h.shape[^1]).index_select(0, chosen);                     // (N, Hg)
        var logits = generator.Predict(hidden, electra.WordEmbeddings);                      // (N, V)
        return (logits.MoveToOuterDisposeScope(), flatLabels.index_select(0, chosen).MoveToOuterDisposeScope(), chosen.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The discriminator's input and labels: the original text (the label at masked positions, the input elsewhere)
    /// with <paramref name="sampled"/> (N, one per masked position in row-major order) written at the masked positions.
    /// A position is labelled replaced (1) only where the result differs from the original, so a sample that equals
    /// the original token counts as original (0). Returns ids (B, T) and float labels (B, T).
    /// </summary>
    public static (Tensor Corrupted, Tensor RtdLabels) Corrupt(Tensor inputIds, Tensor mlmLabels, Tensor sampled)
    {
        using var scope = NewDisposeScope();
        var masked = mlmLabels.ne(-100);                                                     // (B, T)
        var original = where(masked, mlmLabels, inputIds);                                   // (B, T)
        var chosen = masked.reshape(-1).nonzero().squeeze(1);                               // (N)
        var corrupted = original.reshape(-1).index_copy(0, chosen, sampled.to(original.dtype)).view_as(original);
        var labels = corrupted.ne(original).to(ScalarType.Float32);
        return (corrupted.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope());
    }

    /// <summary>Replaced-token logits (B, T) of the discriminator on <paramref name="inputs"/>.</summary>
    public Tensor Discriminate(BertInputs inputs)
    {
        using var scope = NewDisposeScope();
        var states = electra.HiddenStates(inputs);                                           // each (B, T, H)
        return discriminator_predictions.forward(states[^1]).MoveToOuterDisposeScope();      // (B, T)
    }

    /// <summary>
    /// Generator, sampling and discriminator in one pass. The samples come from the generator's softmax without
    /// gradient, drawn with <paramref name="sampler"/> (null: libtorch's global generator).
    /// </summary>
    public ElectraOutput Forward(BertInputs inputs, Tensor mlmLabels, Generator? sampler = null)
    {
        using var scope = NewDisposeScope();
        var (logits, labels, _) = Generate(inputs, mlmLabels);                               // (N, V), (N)
        Tensor sampled;
        using (no_grad())
        {
            sampled = logits.shape[0] == 0
                ? empty(0, dtype: ScalarType.Int64, device: logits.device)
                : multinomial(functional.softmax(logits.detach().to(ScalarType.Float32), -1), 1, generator: sampler).squeeze(1); // (N)
        }
        var (corrupted, rtdLabels) = Corrupt(inputs.InputIds, mlmLabels, sampled);           // (B, T), (B, T)
        var rtdLogits = Discriminate(inputs with { InputIds = corrupted });                  // (B, T)
        return new ElectraOutput(logits.MoveToOuterDisposeScope(), labels.MoveToOuterDisposeScope(), corrupted.MoveToOuterDisposeScope(),
            rtdLogits.MoveToOuterDisposeScope(), rtdLabels.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// ELECTRA's loss, sums divided by the given counts (so micro-batches add up to one batch): the generator's
    /// cross-entropy over the masked positions / <paramref name="maskedTotal"/>, plus <paramref name="rtdWeight"/> times
    /// the binary cross-entropy of every non-padding position / <paramref name="tokenTotal"/>. Returns the total and both terms.
    /// </summary>
    public static (Tensor Total, Tensor Mlm, Tensor Rtd) Loss(ElectraOutput output, Tensor attentionMask, double rtdWeight, long maskedTotal, long tokenTotal)
    {
        var mlm = functional.cross_entropy(output.GeneratorLogits, output.MlmLabels, reduction: Reduction.Sum) / Math.Max(1, maskedTotal);
        var real = attentionMask.ne(0);                                                      // (B, T)
        var rtd = functional.binary_cross_entropy_with_logits(output.RtdLogits.masked_select(real), output.RtdLabels.masked_select(real),
            reduction: Reduction.Sum) / Math.Max(1, tokenTotal);
        return (mlm + rtdWeight * rtd, mlm, rtd);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        // The cls heads belong to the discriminator only; the encoder is shared and disposed once, by base.
        if (disposing) discriminator.DetachEncoder();
        base.Dispose(disposing);
    }
}

/// <summary>HF's ElectraDiscriminatorPredictions: dense, activation, then one logit per token, (B, T, H) to (B, T).</summary>
internal sealed class ElectraDiscriminatorPredictions : Module<Tensor, Tensor>
{
    readonly TorchSharp.Modules.Linear dense;
    readonly TorchSharp.Modules.Linear dense_prediction;
    readonly bool tanhGelu;

    public ElectraDiscriminatorPredictions(BertConfig config) : base("discriminator_predictions")
    {
        dense = Linear(config.HiddenSize, config.HiddenSize);
        dense_prediction = Linear(config.HiddenSize, 1);
        tanhGelu = config.HiddenAct != "gelu";
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden) =>
        dense_prediction.forward(BertActivation.Gelu(dense.forward(hidden), tanhGelu)).squeeze(-1); // (B, T)
}

/// <summary>
/// The generator without embeddings: the projection of the shared embeddings to its width and its encoder layers
/// (<c>encoder</c>), the prediction transform (<c>generator_predictions</c>: dense to the embedding width, GELU,
/// LayerNorm) and the output bias of the decoder tied to the word embeddings (<c>generator_lm_head</c>).
/// </summary>
internal sealed class ElectraGenerator : nn.Module
{
    readonly BertEncoder encoder;
    readonly BertPredictionHeadTransform generator_predictions;
    readonly ElectraLmHead generator_lm_head;

    public ElectraGenerator(BertConfig config) : base("generator")
    {
        encoder = new BertEncoder(config);
        generator_predictions = new BertPredictionHeadTransform(config);
        generator_lm_head = new ElectraLmHead(config.VocabSize);
        RegisterComponents();
    }

    public Tensor Encode(Tensor embedded, Tensor keep) => encoder.Forward(embedded, keep)[^1]; // (B, T, E) -> (B, T, Hg)

    public Tensor Predict(Tensor hidden, Embedding wordEmbeddings)                           // (N, Hg) -> (N, V)
    {
        using var scope = NewDisposeScope();
        return Ops.Linear(generator_predictions.forward(hidden), wordEmbeddings.weight!, generator_lm_head.bias).MoveToOuterDisposeScope();
    }
}

/// <summary>The generator's decoder bias (HF <c>generator_lm_head.bias</c>); the weight is the shared word embeddings.</summary>
internal sealed class ElectraLmHead : nn.Module
{
    internal readonly Parameter bias;

    public ElectraLmHead(int vocabSize) : base("generator_lm_head")
    {
        bias = Parameter(zeros(vocabSize));
        RegisterComponents();
    }
}
