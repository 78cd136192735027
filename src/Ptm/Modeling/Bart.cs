using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// The encoder–decoder Transformer (Vaswani et al. 2017) as BART has it (Lewis et al. 2019): a bidirectional encoder
/// reads the source, a causal decoder writes the target while attending over the encoder's output, and a tied LM head
/// turns decoder states into next-token logits. Parameter names are Hugging Face's BartForConditionalGeneration keys
/// (<c>model.shared.weight</c>, <c>model.encoder.layers.0.self_attn.k_proj.weight</c>,
/// <c>model.decoder.layers.0.encoder_attn.q_proj.weight</c>, <c>final_logits_bias</c>, ...). The LM head is
/// <c>model.shared</c> itself, so it adds no state_dict key; the encoder's and decoder's token embeddings are the same
/// table. Pre-LN (mBART) or post-LN (BART) by <see cref="BartConfig.PreLayerNorm"/>.
/// </summary>
public sealed class BartForConditionalGeneration : Module<Tensor, Tensor, Tensor, Tensor>
{
    readonly BartModel model;
    readonly Tensor final_logits_bias;                                     // (1, V) buffer, as in Hugging Face: loaded, not trained

    /// <summary>A freshly initialised model (BART's initialisation: N(0, <c>init_std</c>), zero biases, zero padding row).</summary>
    /// <exception cref="InvalidInputException">A field of <paramref name="config"/> is out of range.</exception>
    public BartForConditionalGeneration(BartConfig config) : base("BartForConditionalGeneration")
    {
        config.Validate("model config");
        Config = config;
        model = new BartModel(config);
        final_logits_bias = zeros(1, config.VocabSize);
        RegisterComponents();
        InitializeWeights();
    }

    /// <summary>The hyper-parameters the model was built from.</summary>
    public BartConfig Config { get; }

    /// <summary>Source ids (B, S), source padding mask (B, S) (1 or true at real tokens) and decoder input ids (B, T)
    /// to next-token logits (B, T, V): teacher forcing, every target position at once.</summary>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask, Tensor decoderInputIds) =>
        Forward(inputIds, attentionMask, decoderInputIds, null);

    /// <summary>As <see cref="forward"/>, with an optional target padding mask <paramref name="decoderAttentionMask"/>
    /// (B, T), true at real target tokens (null: none is padding; right padding needs none, as causality hides it).</summary>
    /// <exception cref="InvalidInputException">A sequence is longer than <c>max_position_embeddings</c>.</exception>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, Tensor decoderInputIds, Tensor? decoderAttentionMask)
    {
        using var scope = NewDisposeScope();
        using var memory = Encode(inputIds, attentionMask);
        var h = model.Decode(decoderInputIds, memory, null, decoderAttentionMask); // (B, T, C)
        return LmHead(h).MoveToOuterDisposeScope();                        // (B, T, V)
    }

    /// <summary>
    /// Runs the encoder once over the source (B, S) and projects its output to every decoder layer's cross-attention
    /// keys and values; decoding reuses the result for every step. <paramref name="attentionMask"/> (B, S) is 1/true at
    /// real tokens (null: no padding). The caller disposes the memory.
    /// </summary>
    public EncoderMemory Encode(Tensor inputIds, Tensor? attentionMask) => model.Encode(inputIds, attentionMask);

    /// <summary>
    /// Decoder input ids (B, T) to logits (B, T, V) given an encoded source. With <paramref name="cache"/>, the ids
    /// continue the cached target positions and their self-attention keys and values are appended to it.
    /// <paramref name="decoderAttentionMask"/> (B, past+T) is true at real target tokens, null for none padded.
    /// </summary>
    /// <exception cref="InvalidInputException">Cached plus new positions exceed <c>max_position_embeddings</c>.</exception>
    public Tensor Decode(Tensor decoderInputIds, EncoderMemory memory, KvCache? cache, Tensor? decoderAttentionMask = null)
    {
        using var scope = NewDisposeScope();
        var h = model.Decode(decoderInputIds, memory, cache, decoderAttentionMask); // (B, T, C)
        return LmHead(h).MoveToOuterDisposeScope();                        // (B, T, V)
    }

    /// <summary>Final decoder states (B, T, C) to logits (B, T, V): h · sharedᵀ + final_logits_bias.</summary>
    public Tensor LmHead(Tensor hidden) => Ops.Linear(hidden, model.SharedWeight, final_logits_bias.view(-1));

    /// <summary>An empty decoder self-attention cache for <paramref name="batch"/> targets of up to
    /// <paramref name="capacity"/> positions (default <c>max_position_embeddings</c>), in the parameters' dtype and
    /// device. The caller disposes it.</summary>
    public KvCache NewCache(long batch, int? capacity = null)
    {
        var w = parameters().First();
        int heads = Config.DecoderAttentionHeads;
        return new KvCache(Config.DecoderLayers, batch, heads, capacity ?? Config.MaxPositionEmbeddings, Config.DModel / heads, w.dtype, w.device);
    }

    /// <summary>
    /// Teacher forcing's decoder inputs: <paramref name="labels"/> (B, T) shifted one position right, with
    /// <c>decoder_start_token_id</c> in front and label -100 (ignored positions) read as <c>pad_token_id</c>.
    /// </summary>
    public Tensor ShiftTokensRight(Tensor labels)
    {
        using var scope = NewDisposeScope();
        long B = labels.size(0), T = labels.size(1);
        var start = full(B, 1, Config.DecoderStartTokenId, ScalarType.Int64, labels.device); // (B, 1)
        var shifted = cat([start, labels.narrow(1, 0, T - 1)], 1);        // (B, T)
        return shifted.masked_fill(shifted.eq(-100), Config.PadTokenId).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mean cross-entropy of logits (B, T, V) against labels (B, T), positions labelled -100 left out. With
    /// <paramref name="labelSmoothing"/> ε &gt; 0 the target is (1-ε) on the label plus ε spread evenly over the
    /// vocabulary (Szegedy et al. 2016), as in BART's fine-tuning.
    /// </summary>
    public static Tensor Loss(Tensor logits, Tensor labels, double labelSmoothing = 0)
    {
        var flat = logits.view(-1, logits.shape[^1]);                      // (B·T, V)
        var targets = labels.view(-1);                                     // (B·T)
        if (labelSmoothing == 0) return Ops.CrossEntropy(flat, targets);
        return functional.cross_entropy(flat, targets, ignore_index: -100, label_smoothing: labelSmoothing);
    }

    /// <summary>Number of scalar parameters (the tied LM head and the <c>final_logits_bias</c> buffer add none).</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());

    void InitializeWeights()
    {
        using var _ = no_grad();
        foreach (var (name, p) in named_parameters())
        {
            if (name.Contains("layer_norm") || name.Contains("layernorm")) { if (name.EndsWith(".weight")) init.ones_(p); else init.zeros_(p); }
            else if (name.EndsWith(".bias")) init.zeros_(p);
            else init.normal_(p, 0, Config.InitStd);
        }
        model.SharedWeight[Config.PadTokenId].zero_();
    }
}

/// <summary>
/// What the decoder needs from an encoded source: the encoder's output (B, S, C), the source padding mask
/// (B, 1, 1, S) (true at real tokens, null for none padded) and each decoder layer's cross-attention keys and values
/// (B, nh, S, hs). Computed once per source by <see cref="BartForConditionalGeneration.Encode"/>; owns its tensors.
/// </summary>
public sealed class EncoderMemory : IDisposable
{
    internal EncoderMemory(Tensor states, Tensor? sourceMask, (Tensor Keys, Tensor Values)[] layers)
    {
        States = states;
        SourceMask = sourceMask;
        Layers = layers;
    }

    /// <summary>The encoder's final hidden states (B, S, C).</summary>
    public Tensor States { get; private set; }

    /// <summary>(B, 1, 1, S), true at real source tokens; null when no source is padded.</summary>
    public Tensor? SourceMask { get; private set; }

    /// <summary>Per decoder layer, the cross-attention keys and values (B, nh, S, hs).</summary>
    public (Tensor Keys, Tensor Values)[] Layers { get; private set; }

    /// <summary>Number of sources (rows).</summary>
    public long Rows => States.size(0);

    /// <summary>Takes the tensors out of the current dispose scope, so the memory outlives it (until <see cref="Dispose"/>).</summary>
    public EncoderMemory Detach()
    {
        foreach (var t in All()) t.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Rebuilds the rows: new row i is old row <paramref name="rows"/>[i] ((N) int64). The old tensors are freed.</summary>
    public void Reorder(Tensor rows)
    {
        var old = All().ToList();
        States = States.index_select(0, rows).DetachFromDisposeScope();
        SourceMask = SourceMask?.index_select(0, rows).DetachFromDisposeScope();
        Layers = Layers.Select(l => (l.Keys.index_select(0, rows).DetachFromDisposeScope(), l.Values.index_select(0, rows).DetachFromDisposeScope())).ToArray();
        foreach (var t in old) t.Dispose();
    }

    IEnumerable<Tensor> All()
    {
        yield return States;
        if (SourceMask is not null) yield return SourceMask;
        foreach (var (k, v) in Layers) { yield return k; yield return v; }
    }

    /// <summary>Frees the tensors (a no-op for tensors still owned by a dispose scope, which frees them itself).</summary>
    public void Dispose()
    {
        foreach (var t in All()) t.Dispose();
    }
}

/// <summary>HF's <c>model</c>: the shared token embedding, the encoder and the decoder.</summary>
public sealed class BartModel : Module
{
    readonly Embedding shared;
    readonly BartEncoder encoder;
    readonly BartDecoder decoder;
    readonly double embedScale;
    readonly int maxPositions;

    /// <summary>A body with torch.nn's default initialisation; <see cref="BartForConditionalGeneration"/> re-initialises it.</summary>
    public BartModel(BartConfig config) : base("model")
    {
        shared = Embedding(config.VocabSize, config.DModel, padding_idx: config.PadTokenId);
        encoder = new BartEncoder(config);
        decoder = new BartDecoder(config);
        embedScale = config.EmbedScale;
        maxPositions = config.MaxPositionEmbeddings;
        RegisterComponents();
    }

    /// <summary>The token embedding (V, C), shared by encoder, decoder and LM head. A new handle per call: dispose it or let a scope do so.</summary>
    internal Tensor SharedWeight => shared.weight!;

    /// <summary>Token ids (B, T) to scaled token embeddings (B, T, C).</summary>
    Tensor EmbedTokens(Tensor ids) => embedScale == 1.0 ? shared.forward(ids) : shared.forward(ids) * embedScale;

    /// <summary>See <see cref="BartForConditionalGeneration.Encode"/>.</summary>
    public EncoderMemory Encode(Tensor inputIds, Tensor? attentionMask)
    {
        long S = inputIds.size(1);
        if (S > maxPositions)
            throw new InvalidInputException($"source of {S} tokens is longer than max_position_embeddings ({maxPositions})");
        using var scope = NewDisposeScope();
        // Padding mask (B, S) to a boolean (B, 1, 1, S): every query may attend to real source tokens only.
        var sourceMask = attentionMask?.to(ScalarType.Bool).view(attentionMask.size(0), 1, 1, S);
        var states = encoder.forward(EmbedTokens(inputIds), sourceMask);   // (B, S, C)
        var layers = decoder.CrossKeysValues(states);                      // per layer 2 × (B, nh, S, hs)
        states.MoveToOuterDisposeScope();
        sourceMask?.MoveToOuterDisposeScope();
        foreach (var (k, v) in layers) { k.MoveToOuterDisposeScope(); v.MoveToOuterDisposeScope(); }
        return new EncoderMemory(states, sourceMask, layers);
    }

    /// <summary>See <see cref="BartForConditionalGeneration.Decode"/>; returns final decoder states (B, T, C).</summary>
    public Tensor Decode(Tensor decoderInputIds, EncoderMemory memory, KvCache? cache, Tensor? decoderAttentionMask)
    {
        long T = decoderInputIds.size(1), past = cache?.Length ?? 0;
        if (past + T > maxPositions)
            throw new InvalidInputException($"target of {past + T} tokens is longer than max_position_embeddings ({maxPositions})");
        using var scope = NewDisposeScope();
        Tensor? selfMask = decoderAttentionMask is null ? null
            : AttentionMasks.CausalWithKeys(decoderAttentionMask.to(ScalarType.Bool), T, past); // (B, 1, T, past+T)
        var h = decoder.Forward(EmbedTokens(decoderInputIds), memory, cache, selfMask); // (B, T, C)
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>The encoder stack: token embeddings plus learned positions, <c>layernorm_embedding</c>, the layers and,
/// pre-LN, a final <c>layer_norm</c>.</summary>
public sealed class BartEncoder : Module<Tensor, Tensor?, Tensor>
{
    readonly Embedding embed_positions;
    readonly LayerNorm layernorm_embedding;
    readonly ModuleList<BartEncoderLayer> layers;
    readonly LayerNorm? layer_norm;
    readonly Dropout dropout;

    /// <summary>The stack for <paramref name="config"/>.</summary>
    public BartEncoder(BartConfig config) : base("encoder")
    {
        embed_positions = Embedding(config.MaxPositionEmbeddings + BartConfig.PositionOffset, config.DModel);
        layernorm_embedding = LayerNorm(config.DModel);
        layers = new ModuleList<BartEncoderLayer>(Enumerable.Range(0, config.EncoderLayers).Select(_ => new BartEncoderLayer(config)).ToArray());
        if (config.PreLayerNorm) layer_norm = LayerNorm(config.DModel);
        dropout = Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <summary>Scaled token embeddings (B, S, C) and the source mask (B, 1, 1, S) or null, to the encoder output (B, S, C).</summary>
    public override Tensor forward(Tensor tokenEmbeddings, Tensor? sourceMask)
    {
        using var scope = NewDisposeScope();
        long S = tokenEmbeddings.size(1);
        var positions = arange(BartConfig.PositionOffset, S + BartConfig.PositionOffset, dtype: ScalarType.Int64, device: tokenEmbeddings.device);
        var x = tokenEmbeddings + embed_positions.forward(positions);      // (B, S, C)
        x = Ops.Dropout(layernorm_embedding.forward(x), dropout);
        foreach (var layer in layers) x = layer.forward(x, sourceMask);    // (B, S, C)
        if (layer_norm is not null) x = layer_norm.forward(x);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>The decoder stack: as the encoder's, with causal self-attention and cross-attention in every layer.</summary>
public sealed class BartDecoder : Module
{
    readonly Embedding embed_positions;
    readonly LayerNorm layernorm_embedding;
    readonly ModuleList<BartDecoderLayer> layers;
    readonly LayerNorm? layer_norm;
    readonly Dropout dropout;

    /// <summary>The stack for <paramref name="config"/>.</summary>
    public BartDecoder(BartConfig config) : base("decoder")
    {
        embed_positions = Embedding(config.MaxPositionEmbeddings + BartConfig.PositionOffset, config.DModel);
        layernorm_embedding = LayerNorm(config.DModel);
        layers = new ModuleList<BartDecoderLayer>(Enumerable.Range(0, config.DecoderLayers).Select(_ => new BartDecoderLayer(config)).ToArray());
        if (config.PreLayerNorm) layer_norm = LayerNorm(config.DModel);
        dropout = Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <summary>Every layer's cross-attention keys and values of the encoder output (B, S, C).</summary>
    public (Tensor Keys, Tensor Values)[] CrossKeysValues(Tensor encoderStates) =>
        layers.Select(l => l.CrossKeysValues(encoderStates)).ToArray();

    /// <summary>Scaled token embeddings (B, T, C) of target positions past..past+T-1 to decoder states (B, T, C);
    /// <paramref name="selfMask"/> as in <see cref="Ops.CausalAttention"/> (null: causal).</summary>
    public Tensor Forward(Tensor tokenEmbeddings, EncoderMemory memory, KvCache? cache, Tensor? selfMask)
    {
        using var scope = NewDisposeScope();
        long T = tokenEmbeddings.size(1), past = cache?.Length ?? 0;
        var positions = arange(past + BartConfig.PositionOffset, past + T + BartConfig.PositionOffset, dtype: ScalarType.Int64, device: tokenEmbeddings.device);
        var x = tokenEmbeddings + embed_positions.forward(positions);      // (B, T, C)
        x = Ops.Dropout(layernorm_embedding.forward(x), dropout);
        for (int i = 0; i < layers.Count; i++)
        {
            var (k, v) = memory.Layers[i];
            x = layers[i].Forward(x, cache?[i], selfMask, k, v, memory.SourceMask); // (B, T, C)
        }
        if (layer_norm is not null) x = layer_norm.forward(x);
        cache?.Advance((int)T);
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>One encoder layer: self-attention, then the feed-forward network, each a residual sub-layer.</summary>
public sealed class BartEncoderLayer : Module<Tensor, Tensor?, Tensor>
{
    readonly SelfAttention self_attn;
    readonly LayerNorm self_attn_layer_norm;
    readonly Linear fc1;
    readonly Linear fc2;
    readonly LayerNorm final_layer_norm;
    readonly BartSublayers sub;

    /// <summary>The layer for <paramref name="config"/>.</summary>
    public BartEncoderLayer(BartConfig config) : base("layer")
    {
        self_attn = new SelfAttention(config.DModel, config.EncoderAttentionHeads, config.AttentionDropout);
        self_attn_layer_norm = LayerNorm(config.DModel);
        fc1 = new Linear(config.DModel, config.EncoderFfnDim);
        fc2 = new Linear(config.EncoderFfnDim, config.DModel);
        final_layer_norm = LayerNorm(config.DModel);
        sub = new BartSublayers(config);
        RegisterComponents();
    }

    /// <summary>(B, S, C) to (B, S, C), attending only to keys the source mask (B, 1, 1, S) allows.</summary>
    public override Tensor forward(Tensor x, Tensor? sourceMask)
    {
        using var scope = NewDisposeScope();
        x = sub.Residual(x, self_attn_layer_norm, h => self_attn.forward(h, sourceMask));
        x = sub.Residual(x, final_layer_norm, h => sub.FeedForward(h, fc1, fc2));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>One decoder layer: causal self-attention, cross-attention over the source, then the feed-forward network.</summary>
public sealed class BartDecoderLayer : Module
{
    readonly SelfAttention self_attn;
    readonly LayerNorm self_attn_layer_norm;
    readonly CrossAttention encoder_attn;
    readonly LayerNorm encoder_attn_layer_norm;
    readonly Linear fc1;
    readonly Linear fc2;
    readonly LayerNorm final_layer_norm;
    readonly BartSublayers sub;

    /// <summary>The layer for <paramref name="config"/>.</summary>
    public BartDecoderLayer(BartConfig config) : base("layer")
    {
        self_attn = new SelfAttention(config.DModel, config.DecoderAttentionHeads, config.AttentionDropout);
        self_attn_layer_norm = LayerNorm(config.DModel);
        encoder_attn = new CrossAttention(config.DModel, config.DecoderAttentionHeads, config.AttentionDropout);
        encoder_attn_layer_norm = LayerNorm(config.DModel);
        fc1 = new Linear(config.DModel, config.DecoderFfnDim);
        fc2 = new Linear(config.DecoderFfnDim, config.DModel);
        final_layer_norm = LayerNorm(config.DModel);
        sub = new BartSublayers(config);
        RegisterComponents();
    }

    /// <summary>This layer's cross-attention keys and values (B, nh, S, hs) of the encoder output (B, S, C).</summary>
    public (Tensor Keys, Tensor Values) CrossKeysValues(Tensor encoderStates) => encoder_attn.KeysValues(encoderStates);

    /// <summary>(B, T, C) to (B, T, C): <paramref name="cache"/> and <paramref name="selfMask"/> as in
    /// <see cref="SelfAttention.Causal"/>; <paramref name="keys"/>, <paramref name="values"/> and
    /// <paramref name="sourceMask"/> as in <see cref="CrossAttention.forward"/>.</summary>
    public Tensor Forward(Tensor x, LayerKvCache? cache, Tensor? selfMask, Tensor keys, Tensor values, Tensor? sourceMask)
    {
        using var scope = NewDisposeScope();
        x = sub.Residual(x, self_attn_layer_norm, h => self_attn.Causal(h, cache, selfMask));
        x = sub.Residual(x, encoder_attn_layer_norm, h => encoder_attn.forward(h, keys, values, sourceMask));
        x = sub.Residual(x, final_layer_norm, h => sub.FeedForward(h, fc1, fc2));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>What BART's sub-layers share: the residual connection with its LayerNorm (before or after), dropout, and
/// the feed-forward activation. Holds no parameters.</summary>
internal sealed class BartSublayers : Module
{
    readonly Dropout dropout;
    readonly Dropout activation_dropout;
    readonly bool preLayerNorm;
    readonly string activation;

    public BartSublayers(BartConfig config) : base("sublayers")
    {
        dropout = Dropout(config.Dropout);
        activation_dropout = Dropout(config.ActivationDropout);
        preLayerNorm = config.PreLayerNorm;
        activation = config.ActivationFunction;
        RegisterComponents();
    }

    /// <summary>Pre-LN: x + dropout(f(ln(x))). Post-LN (the paper's): ln(x + dropout(f(x))).</summary>
    public Tensor Residual(Tensor x, LayerNorm ln, Func<Tensor, Tensor> f) =>
        preLayerNorm ? x + Ops.Dropout(f(ln.forward(x)), dropout) : ln.forward(x + Ops.Dropout(f(x), dropout));

    /// <summary>fc2(dropout(act(fc1(x)))): (B, T, C) to (B, T, C) through the hidden width.</summary>
    public Tensor FeedForward(Tensor x, Linear fc1, Linear fc2)
    {
        var h = activation switch
        {
            "relu" => functional.relu(fc1.forward(x)),
            "gelu" => functional.gelu(fc1.forward(x)),
            _ => Ops.LinearGelu(x, fc1),                                   // tanh approximation
        };
        return fc2.forward(Ops.Dropout(h, activation_dropout));
    }
}
