using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>The inputs BERT reads: token ids, segment (token type) ids and the padding mask, each (B, T).</summary>
public sealed record BertInputs(Tensor InputIds, Tensor TokenTypeIds, Tensor AttentionMask);

/// <summary>
/// BERT for pre-training (Devlin et al. 2018): the encoder <c>bert</c> and the heads <c>cls</c> for masked-LM
/// and next-sentence prediction. Parameter names are Hugging Face's BertForPreTraining keys
/// (<c>bert.embeddings.word_embeddings.weight</c>, <c>bert.encoder.layer.0.attention.self.query.weight</c>,
/// <c>cls.predictions.transform.dense.weight</c>, <c>cls.seq_relationship.weight</c>, ...). The MLM decoder
/// is tied to the word embeddings, so it has only its bias (<c>cls.predictions.bias</c>). Post-LN layers as in
/// BERT, or pre-LN layers with a final <c>bert.encoder.LayerNorm</c> by <see cref="BertConfig.PreLayerNorm"/>.
/// </summary>
public sealed class BertForPreTraining : Module<BertInputs, (Tensor MlmLogits, Tensor NspLogits)>
{
    readonly BertModel bert;
    readonly BertPreTrainingHeads cls;

    /// <summary>A freshly initialised model (BERT's initialisation: N(0, <c>initializer_range</c>), zero biases).</summary>
    /// <exception cref="InvalidInputException">A field of <paramref name="config"/> is out of range.</exception>
    public BertForPreTraining(BertConfig config) : base("BertForPreTraining")
    {
        config.Validate("model config");
        Config = config;
        bert = new BertModel(config);
        cls = new BertPreTrainingHeads(config);
        RegisterComponents();
        BertInit.Apply(this, config);
    }

    /// <summary>The hyper-parameters the model was built from.</summary>
    public BertConfig Config { get; }

    /// <summary>The encoder (HF's <c>bert</c>), owned by this model.</summary>
    public BertModel Bert => bert;

    /// <summary>
    /// Hands the encoder to a new owner (a task head) and disposes the pre-training heads (<c>cls.*</c>); this
    /// object must not be used afterwards. Disposing the new owner frees the encoder.
    /// </summary>
    public BertModel DetachEncoder()
    {
        cls.Dispose();
        return bert;
    }

    /// <summary>MLM logits (B, T, V) and NSP logits (B, 2).</summary>
    public override (Tensor MlmLogits, Tensor NspLogits) forward(BertInputs inputs)
    {
        using var scope = NewDisposeScope();
        var (sequence, pooled) = bert.forward(inputs);
        var mlm = cls.predictions.Forward(sequence, bert.WordEmbeddings);
        var nsp = cls.seq_relationship.forward(pooled);
        return (mlm.MoveToOuterDisposeScope(), nsp.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The pre-training forward pass as Google's BERT runs it: the MLM head only at positions whose label is
    /// not -100 (gathered first, so the vocabulary projection costs 15% of a full pass). Returns logits (N, V)
    /// and labels (N) for the N chosen positions, and NSP logits (B, 2).
    /// </summary>
    public (Tensor MlmLogits, Tensor MlmLabels, Tensor NspLogits) ForwardMasked(BertInputs inputs, Tensor mlmLabels)
    {
        using var scope = NewDisposeScope();
        var (sequence, pooled) = bert.forward(inputs);                        // (B, T, H), (B, H)
        var flatLabels = mlmLabels.view(-1);                                   // (B·T)
        var chosen = flatLabels.ne(-100).nonzero().squeeze(1);                 // (N)
        var hidden = sequence.reshape(-1, sequence.shape[^1]).index_select(0, chosen); // (N, H)
        var mlm = cls.predictions.Forward(hidden, bert.WordEmbeddings);       // (N, V)
        var nsp = cls.seq_relationship.forward(pooled);                       // (B, 2)
        return (mlm.MoveToOuterDisposeScope(), flatLabels.index_select(0, chosen).MoveToOuterDisposeScope(), nsp.MoveToOuterDisposeScope());
    }

    /// <summary>Sum of the masked-LM loss (mean over positions whose label is not -100) and, when given, the
    /// next-sentence (or sentence-order) loss.</summary>
    public static (Tensor Total, Tensor Mlm, Tensor? Nsp) Loss(Tensor mlmLogits, Tensor nspLogits, Tensor mlmLabels, Tensor? nspLabels)
    {
        var mlm = functional.cross_entropy(mlmLogits.view(-1, mlmLogits.shape[^1]), mlmLabels.view(-1), ignore_index: -100);
        if (nspLabels is null) return (mlm, mlm, null);
        var nsp = functional.cross_entropy(nspLogits, nspLabels.view(-1));
        return (mlm + nsp, mlm, nsp);
    }
}

/// <summary>The encoder alone (HF's BertModel): embeddings, layers and pooler.</summary>
public sealed class BertModel : Module<BertInputs, (Tensor Sequence, Tensor Pooled)>
{
    readonly BertEmbeddings embeddings;
    readonly BertEncoder encoder;
    readonly BertPooler pooler;

    /// <summary>An encoder with torch.nn's default initialisation; <see cref="BertForPreTraining"/> re-initialises it.</summary>
    public BertModel(BertConfig config) : base("bert")
    {
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config);
        pooler = new BertPooler(config);
        RegisterComponents();
    }

    /// <summary>The hyper-parameters the encoder was built from.</summary>
    public BertConfig Config { get; }

    internal Embedding WordEmbeddings => embeddings.word_embeddings;

    internal BertEmbeddings Embeddings => embeddings;

    /// <summary>Last hidden states (B, T, H) and the pooled [CLS] vector (B, H).</summary>
    public override (Tensor Sequence, Tensor Pooled) forward(BertInputs inputs)
    {
        using var scope = NewDisposeScope();
        var states = HiddenStates(inputs);
        var sequence = states[^1];
        return (sequence.MoveToOuterDisposeScope(), pooler.forward(sequence).MoveToOuterDisposeScope());
    }

    /// <summary>The embedding output followed by every layer's output, each (B, T, H), like HF's output_hidden_states.
    /// With pre-LN layers the last one is after the encoder's final LayerNorm (the encoder's output), the others are
    /// the un-normalised residual stream. The caller owns the returned tensors.</summary>
    /// <exception cref="InvalidInputException">The sequence is longer than <c>max_position_embeddings</c>.</exception>
    public IReadOnlyList<Tensor> HiddenStates(BertInputs inputs)
    {
        long T = inputs.InputIds.shape[1];
        if (T > Config.MaxPositionEmbeddings)
            throw new InvalidInputException($"sequence of {T} tokens is longer than max_position_embeddings ({Config.MaxPositionEmbeddings})");
        using var scope = NewDisposeScope();
        var x = embeddings.Forward(inputs.InputIds, inputs.TokenTypeIds);         // (B, T, E)
        // Padding mask (B, T) of 1/0 to a boolean (B, 1, 1, T): every query may attend to real tokens only.
        var keep = inputs.AttentionMask.to(ScalarType.Bool).unsqueeze(1).unsqueeze(2);
        var states = encoder.Forward(x, keep);
        foreach (var s in states) s.MoveToOuterDisposeScope();
        return states;
    }
}

/// <summary>Word + position + token-type embeddings, then LayerNorm and dropout: (B, T) ids to (B, T, E).</summary>
internal sealed class BertEmbeddings : Module<Tensor, Tensor>
{
    internal readonly Embedding word_embeddings;
    readonly Embedding position_embeddings;
    readonly Embedding token_type_embeddings;
    readonly LayerNorm LayerNorm;
    readonly Dropout dropout;

    public BertEmbeddings(BertConfig config) : base("embeddings")
    {
        word_embeddings = Embedding(config.VocabSize, config.EmbeddingWidth);
        position_embeddings = Embedding(config.MaxPositionEmbeddings, config.EmbeddingWidth);
        token_type_embeddings = Embedding(config.TypeVocabSize, config.EmbeddingWidth);
        LayerNorm = nn.LayerNorm(config.EmbeddingWidth, config.LayerNormEps);
        dropout = Dropout(config.HiddenDropoutProb);
        RegisterComponents();
    }

    public override Tensor forward(Tensor inputIds) => Forward(inputIds, zeros_like(inputIds));

    public Tensor Forward(Tensor inputIds, Tensor tokenTypeIds)                // (B, T) -> (B, T, E)
    {
        using var scope = NewDisposeScope();
        var positions = arange(inputIds.shape[1], dtype: ScalarType.Int64, device: inputIds.device);
        var x = word_embeddings.forward(inputIds) + position_embeddings.forward(positions) + token_type_embeddings.forward(tokenTypeIds);
        return dropout.forward(LayerNorm.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>The stack of layers, post-LN or pre-LN; with ALBERT's sharing one layer is applied num_hidden_layers
/// times. Pre-LN layers leave their sum un-normalised, so the stack then ends with a final LayerNorm.</summary>
internal sealed class BertEncoder : Module<Tensor, Tensor>
{
    readonly Linear? embedding_hidden_mapping_in;
    readonly ModuleList<BertLayer> layer;
    readonly LayerNorm? LayerNorm;
    readonly int depth;

    public BertEncoder(BertConfig config) : base("encoder")
    {
        if (config.EmbeddingWidth != config.HiddenSize)
            embedding_hidden_mapping_in = new Linear(config.EmbeddingWidth, config.HiddenSize);
        int distinct = config.ShareLayers ? 1 : config.NumHiddenLayers;
        layer = new ModuleList<BertLayer>(Enumerable.Range(0, distinct).Select(_ => new BertLayer(config)).ToArray());
        if (config.PreLayerNorm) LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        depth = config.NumHiddenLayers;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null)[^1];

    /// <summary>Returns the input (after the ALBERT projection, if any) and every layer's output, the last one
    /// after the final LayerNorm when the layers are pre-LN.</summary>
    public List<Tensor> Forward(Tensor x, Tensor? keep)
    {
        if (embedding_hidden_mapping_in is not null) x = embedding_hidden_mapping_in.forward(x); // (B, T, H)
        var states = new List<Tensor>(depth + 1) { x };
        for (int i = 0; i < depth; i++)
        {
            x = layer[layer.Count == 1 ? 0 : i].Forward(x, keep);
            states.Add(x);
        }
        if (LayerNorm is not null) states[^1] = LayerNorm.forward(x);            // (B, T, H)
        return states;
    }
}

/// <summary>One encoder layer: bidirectional self-attention and feed-forward, each with a residual connection.
/// Post-LN: LN(x + Sublayer(x)). Pre-LN: x + Sublayer(LN(x)), where <c>attention.output.LayerNorm</c> is the LN
/// before the attention and <c>output.LayerNorm</c> the LN before the feed-forward.</summary>
internal sealed class BertLayer : Module<Tensor, Tensor>
{
    readonly BertAttention attention;
    readonly BertIntermediate intermediate;
    readonly BertResidualOutput output;

    public BertLayer(BertConfig config) : base("layer")
    {
        attention = new BertAttention(config);
        intermediate = new BertIntermediate(config);
        output = new BertResidualOutput(config.IntermediateSize, config);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, Tensor? keep)                              // (B, T, H) -> (B, T, H)
    {
        using var scope = NewDisposeScope();
        var a = attention.Forward(x, keep);                                    // (B, T, H)
        var f = intermediate.forward(output.SublayerInput(a));                 // (B, T, I)
        return output.Forward(f, a).MoveToOuterDisposeScope();
    }
}

/// <summary>Self-attention sub-layer with its residual connection, (B, T, H) to (B, T, H): post-LN
/// LN(x + Attn(x)) or pre-LN x + Attn(LN(x)).</summary>
internal sealed class BertAttention : Module<Tensor, Tensor>
{
    readonly BertSelfAttention self;
    readonly BertResidualOutput output;

    public BertAttention(BertConfig config) : base("attention")
    {
        self = new BertSelfAttention(config);
        output = new BertResidualOutput(config.HiddenSize, config);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, Tensor? keep) => output.Forward(self.Forward(output.SublayerInput(x), keep), x);
}

/// <summary>Bidirectional multi-head self-attention with separate query, key and value projections (HF names).</summary>
internal sealed class BertSelfAttention : Module<Tensor, Tensor>
{
    readonly Linear query;
    readonly Linear key;
    readonly Linear value;
    readonly int heads;
    readonly double dropout;

    public BertSelfAttention(BertConfig config) : base("self")
    {
        query = new Linear(config.HiddenSize, config.HiddenSize);
        key = new Linear(config.HiddenSize, config.HiddenSize);
        value = new Linear(config.HiddenSize, config.HiddenSize);
        heads = config.NumAttentionHeads;
        dropout = config.AttentionProbsDropoutProb;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, Tensor? keep)
    {
        using var scope = NewDisposeScope();
        var q = MultiHead.Split(query.forward(x), heads);                     // (B, nh, T, hs)
        var k = MultiHead.Split(key.forward(x), heads);
        var v = MultiHead.Split(value.forward(x), heads);
        return MultiHead.Attend(q, k, v, keep, causal: false, training ? dropout : 0.0).MoveToOuterDisposeScope(); // (B, T, H)
    }
}

/// <summary>
/// Sub-layer output, HF's BertSelfOutput and BertOutput (the same computation at different widths): project back
/// to the hidden size, dropout, and add the residual. Post-LN normalises the sum; pre-LN instead normalises the
/// sub-layer's input (<see cref="SublayerInput"/>) and leaves the sum as it is.
/// </summary>
internal sealed class BertResidualOutput : Module
{
    readonly Linear dense;
    readonly LayerNorm LayerNorm;
    readonly Dropout dropout;
    readonly bool preLayerNorm;

    public BertResidualOutput(int inFeatures, BertConfig config) : base("output")
    {
        dense = new Linear(inFeatures, config.HiddenSize);
        LayerNorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        dropout = Dropout(config.HiddenDropoutProb);
        preLayerNorm = config.PreLayerNorm;
        RegisterComponents();
    }

    /// <summary>What the sub-layer reads from the residual stream x (B, T, H): LN(x) with pre-LN, x itself with post-LN.</summary>
    public Tensor SublayerInput(Tensor x) => preLayerNorm ? LayerNorm.forward(x) : x;

    /// <summary>The sub-layer's output <paramref name="hidden"/> (B, T, inFeatures) back into the residual stream (B, T, H).</summary>
    public Tensor Forward(Tensor hidden, Tensor residual)
    {
        var y = dropout.forward(dense.forward(hidden)) + residual;              // (B, T, H)
        return preLayerNorm ? y : LayerNorm.forward(y);
    }
}

/// <summary>First half of the feed-forward sub-layer: dense to <c>intermediate_size</c> and GELU, (B, T, H) to (B, T, I).</summary>
internal sealed class BertIntermediate : Module<Tensor, Tensor>
{
    readonly Linear dense;
    readonly bool tanhGelu;

    public BertIntermediate(BertConfig config) : base("intermediate")
    {
        dense = new Linear(config.HiddenSize, config.IntermediateSize);
        tanhGelu = config.HiddenAct != "gelu";
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => BertActivation.Gelu(dense.forward(x), tanhGelu); // (B, T, I)
}

/// <summary>dense + tanh on the [CLS] position.</summary>
internal sealed class BertPooler : Module<Tensor, Tensor>
{
    readonly Linear dense;

    public BertPooler(BertConfig config) : base("pooler")
    {
        dense = new Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor sequence) => dense.forward(sequence[.., 0]).tanh(); // (B, H)
}

/// <summary>HF's <c>cls</c>: the masked-LM head <c>predictions</c> and the next-sentence classifier <c>seq_relationship</c>.</summary>
internal sealed class BertPreTrainingHeads : Module
{
    internal readonly BertLMPredictionHead predictions;
    internal readonly Linear seq_relationship;

    public BertPreTrainingHeads(BertConfig config) : base("cls")
    {
        predictions = new BertLMPredictionHead(config);
        seq_relationship = new Linear(config.HiddenSize, 2);
        RegisterComponents();
    }

}

/// <summary>MLM head: transform (dense, GELU, LayerNorm) then the tied decoder plus an output bias.</summary>
internal sealed class BertLMPredictionHead : Module
{
    readonly BertPredictionHeadTransform transform;
    readonly Parameter bias;

    public BertLMPredictionHead(BertConfig config) : base("predictions")
    {
        transform = new BertPredictionHeadTransform(config);
        bias = Parameter(zeros(config.VocabSize));
        RegisterComponents();
    }

    /// <summary>(B, T, H) to vocabulary logits (B, T, V) through the word-embedding matrix.</summary>
    public Tensor Forward(Tensor hidden, Embedding wordEmbeddings)
    {
        using var scope = NewDisposeScope();
        return Ops.Linear(transform.forward(hidden), wordEmbeddings.weight!, bias).MoveToOuterDisposeScope();
    }
}

/// <summary>dense, GELU and LayerNorm on every position before the tied decoder: (…, H) to (…, E).</summary>
internal sealed class BertPredictionHeadTransform : Module<Tensor, Tensor>
{
    readonly Linear dense;
    readonly LayerNorm LayerNorm;
    readonly bool tanhGelu;

    public BertPredictionHeadTransform(BertConfig config) : base("transform")
    {
        // With ALBERT's factorised embeddings the decoder reads embedding-sized vectors.
        dense = new Linear(config.HiddenSize, config.EmbeddingWidth);
        LayerNorm = nn.LayerNorm(config.EmbeddingWidth, config.LayerNormEps);
        tanhGelu = config.HiddenAct != "gelu";
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => LayerNorm.forward(BertActivation.Gelu(dense.forward(x), tanhGelu));
}

static class BertActivation
{
    /// <summary>BERT's "gelu" is the exact erf form; "gelu_new" is GPT-2's tanh approximation.</summary>
    public static Tensor Gelu(Tensor x, bool tanh) =>
        tanh ? functional.gelu(x, TorchSharp.Modules.GELU.Approximate.tanh) : functional.gelu(x);
}

/// <summary>BERT's initialisation: N(0, initializer_range) for weights and embeddings, zero biases, unit
/// LayerNorm gains, and a zero embedding row for the padding token (as Hugging Face does).</summary>
static class BertInit
{
    public static void Apply(Module module, BertConfig config)
    {
        using var _ = no_grad();
        foreach (var (name, p) in module.named_parameters())
        {
            if (name.EndsWith("LayerNorm.weight")) init.ones_(p);
            else if (name.EndsWith("bias")) init.zeros_(p);
            else init.normal_(p, 0, config.InitializerRange);
            if (name.EndsWith("word_embeddings.weight")) p[config.PadTokenId].zero_();
        }
    }
}
