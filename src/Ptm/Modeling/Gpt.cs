using Ptm.Kernels;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// Decoder-only Transformer language model (Radford et al. 2018, 2019). Parameter names follow Hugging Face's
/// GPT2LMHeadModel (<c>transformer.wte.weight</c>, <c>transformer.h.0.attn.c_attn.weight</c>, ...), except
/// that linear weights are stored (out, in) as in torch.nn.Linear rather than in HF's Conv1D (in, out) layout.
/// The LM head is tied to <c>transformer.wte</c>, so it adds no parameters and no state_dict key.
/// </summary>
public sealed class Gpt : Module<Tensor, Tensor>
{
    readonly GptTransformer transformer;

    /// <summary>A freshly initialised model (GPT-2's initialisation, see <c>initializer_range</c>).</summary>
    /// <exception cref="InvalidInputException">A field of <paramref name="config"/> is out of range.</exception>
    public Gpt(GptConfig config) : base("GPT2LMHeadModel")
    {
        config.Validate("model config");
        Config = config;
        transformer = new GptTransformer(config);
        RegisterComponents();
        InitializeWeights();
    }

    /// <summary>The hyper-parameters the model was built from.</summary>
    public GptConfig Config { get; }

    /// <summary>The body (HF's <c>transformer</c>), for task heads that read its hidden states under the same key names.</summary>
    public GptTransformer Transformer => transformer;

    /// <summary>Token ids (B, T) to next-token logits (B, T, vocab_size).</summary>
    public override Tensor forward(Tensor idx) => Forward(idx, null);

    /// <summary>Token ids (B, T) to next-token logits (B, T, vocab_size); with <paramref name="cache"/>, the ids continue
    /// the cached positions and their keys and values are appended to it.</summary>
    /// <exception cref="InvalidInputException">Cached plus new positions exceed <c>n_positions</c>.</exception>
    public Tensor Forward(Tensor idx, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var h = transformer.Forward(idx, cache);                           // (B, T, C)
        return LmHead(h).MoveToOuterDisposeScope();                        // (B, T, V)
    }

    /// <summary>
    /// Logits for the token after the last position only (B, V): what decoding needs. The LM head then multiplies one
    /// row per sequence instead of T, which during a prompt's prefill (and every step without the cache) is most of
    /// the head's cost. <paramref name="positions"/> and <paramref name="keyMask"/> are for left-padded batches, as in
    /// <see cref="GptTransformer.Forward(Tensor, KvCache?, Tensor?, Tensor?)"/>.
    /// </summary>
    public Tensor NextTokenLogits(Tensor idx, KvCache? cache, Tensor? positions = null, Tensor? keyMask = null)
    {
        using var scope = NewDisposeScope();
        var h = transformer.Forward(idx, cache, positions, keyMask);       // (B, T, C)
        return LmHead(h.select(1, -1)).MoveToOuterDisposeScope();         // (B, V)
    }

    /// <summary>Final hidden states (B, T, C), after ln_f for pre-LN models: what fine-tuning heads read.</summary>
    public Tensor Hidden(Tensor idx, KvCache? cache = null) => transformer.Forward(idx, cache);

    /// <summary>The tied output projection: logits = h · wteᵀ.</summary>
    public Tensor LmHead(Tensor hidden) => transformer.LmLogits(hidden);

    /// <summary>An empty cache for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> positions
    /// (default <c>n_positions</c>), in the dtype and on the device of the parameters. The caller disposes it.</summary>
    public KvCache NewCache(long batch, int? capacity = null)
    {
        // Not wte.weight: TorchSharp's getter makes a new handle per call, which would outlive this call.
        var w = parameters().First();
        return new KvCache(Config.NLayer, batch, Config.NHead, capacity ?? Config.NPositions, Config.HeadSize, w.dtype, w.device);
    }

    /// <summary>
    /// Mean cross-entropy of logits (B, T, V) against targets (B, T); positions with target -100 are ignored.
    /// With <paramref name="normalizer"/> the summed loss is divided by it instead, so that micro-batches of a
    /// gradient-accumulation step add up to the mean over all their tokens.
    /// </summary>
    public static Tensor Loss(Tensor logits, Tensor targets, double? normalizer = null)
    {
        return Ops.CrossEntropy(logits.view(-1, logits.shape[^1]), targets.view(-1), normalizer); // (B·T, V) against (B·T)
    }

    /// <summary>Number of scalar parameters; the tied LM head adds none. <paramref name="includePositionEmbeddings"/>
    /// false leaves out the position embeddings (<c>wpe</c>); the token embedding stays, as it is also the output layer.</summary>
    public long ParameterCount(bool includePositionEmbeddings = true) =>
        named_parameters().Where(p => includePositionEmbeddings || p.name != "transformer.wpe.weight").Sum(p => p.parameter.numel());

    /// <summary>GPT-2 initialisation: N(0, 0.02) for weights and embeddings, zero biases, and the projections
    /// that write into the residual stream scaled by 1/√(2·n_layer) so the stream's variance stays bounded.</summary>
    void InitializeWeights()
    {
        using var _ = no_grad();
        double std = Config.InitializerRange;
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("ln_1.weight") || name.EndsWith("ln_2.weight") || name.EndsWith("ln_f.weight")) init.ones_(p);
            else if (name.EndsWith(".bias")) init.zeros_(p);
            else init.normal_(p, 0, std);
        }
        double residualStd = std / Math.Sqrt(2.0 * Config.NLayer);
        foreach (var (name, p) in named_parameters())
            if (name.EndsWith("attn.c_proj.weight") || name.EndsWith("mlp.c_proj.weight")) init.normal_(p, 0, residualStd);
    }
}

/// <summary>The body of the model, HF's <c>transformer</c>: embeddings, blocks <c>h</c> and the final <c>ln_f</c>.</summary>
public sealed class GptTransformer : Module<Tensor, Tensor>
{
    internal readonly Embedding wte;
    readonly Embedding wpe;
    readonly Dropout drop;
    readonly ModuleList<GptBlock> h;
    readonly LayerNorm? ln_f;

    /// <summary>A body with torch.nn's default initialisation; <see cref="Gpt"/> re-initialises it.</summary>
    public GptTransformer(GptConfig config) : base("transformer")
    {
        Config = config;
        wte = Embedding(config.VocabSize, config.NEmbd);
        wpe = Embedding(config.NPositions, config.NEmbd);
        drop = Dropout(config.EmbdPdrop);
        h = new ModuleList<GptBlock>(Enumerable.Range(0, config.NLayer).Select(_ => new GptBlock(config)).ToArray());
        if (config.PreLayerNorm) ln_f = LayerNorm(config.NEmbd, config.LayerNormEpsilon);
        RegisterComponents();
    }

    /// <summary>The hyper-parameters the body was built from.</summary>
    public GptConfig Config { get; }

    readonly SplitRowProduct lmHeadSingleRow = new();

    /// <summary>The tied LM projection of hidden states (…, C) to vocabulary logits (…, V).</summary>
    public Tensor LmLogits(Tensor hidden)
    {
        using var scope = NewDisposeScope();
        var weight = wte.weight!;                                          // a new handle per call: disposed with the scope
        var logits = Ops.Linear(hidden, weight, null, lmHeadSingleRow);   // (…, V)
        return logits.MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) lmHeadSingleRow.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>
    /// The embedding output (wte + wpe) followed by every block's output, each (B, T, C), as Hugging Face's
    /// <c>output_hidden_states</c> gives them: for a pre-LN model the last entry is after <c>ln_f</c>, the states the
    /// LM head reads (it equals <see cref="Forward(Tensor, KvCache?)"/>'s result). No cache; causal attention throughout.
    /// The caller owns the returned tensors.
    /// </summary>
    /// <exception cref="InvalidInputException">The sequence is longer than <c>n_positions</c>.</exception>
    public IReadOnlyList<Tensor> HiddenStates(Tensor idx)
    {
        long T = idx.size(1);
        if (T > Config.NPositions)
            throw new InvalidInputException($"sequence of {T} tokens is longer than the context (n_positions = {Config.NPositions})");
        using var scope = NewDisposeScope();
        var x = wte.forward(idx) + wpe.forward(arange(0, T, dtype: ScalarType.Int64, device: idx.device)); // (B, T, C)
        if (drop.training) x = drop.forward(x);
        var states = new List<Tensor> { x };
        for (int i = 0; i < h.Count; i++)
        {
            x = h[i].forward(x, null, null);                                   // (B, T, C)
            states.Add(i == h.Count - 1 && ln_f is not null ? ln_f.forward(x) : x);
        }
        foreach (var s in states) s.MoveToOuterDisposeScope();
        return states;
    }

    /// <summary>Token ids (B, T) to final hidden states (B, T, C), without a cache.</summary>
    public override Tensor forward(Tensor idx) => Forward(idx, null);

    /// <summary>Token ids (B, T) to final hidden states (B, T, C), appending to <paramref name="cache"/> when given.</summary>
    /// <exception cref="InvalidInputException">Cached plus new positions exceed <c>n_positions</c>.</exception>
    public Tensor Forward(Tensor idx, KvCache? cache) => Forward(idx, cache, null, null);

    /// <summary>
    /// Token ids (B, T) to final hidden states (B, T, C), appending to <paramref name="cache"/> when given.
    /// <paramref name="positions"/> (B, T) are position ids, null for past..past+T-1 in every row; <paramref name="keyMask"/>
    /// (B, past+T), true where a key is a real token, lets rows of different lengths share a batch by left padding
    /// (null: every key is real). The attention mask is built here once, not in every layer.
    /// </summary>
    /// <exception cref="InvalidInputException">Cached plus new positions exceed <c>n_positions</c>.</exception>
    public Tensor Forward(Tensor idx, KvCache? cache, Tensor? positions, Tensor? keyMask)
    {
        long T = idx.size(1);
        long past = cache?.Length ?? 0;
        if (past + T > Config.NPositions)
            throw new InvalidInputException($"sequence of {past + T} tokens is longer than the context (n_positions = {Config.NPositions})");
        using var scope = NewDisposeScope();
        positions ??= arange(past, past + T, dtype: ScalarType.Int64, device: idx.device); // (T) or (B, T)
        var x = wte.forward(idx) + wpe.forward(positions);                // (B, T, C)
        if (drop.training) x = drop.forward(x);
        Tensor? mask = keyMask is not null ? AttentionMasks.CausalWithKeys(keyMask, T, past)
            : past > 0 && T > 1 ? AttentionMasks.Causal(T, past, idx.device) : null;
        for (int i = 0; i < h.Count; i++) x = h[i].forward(x, cache?[i], mask);
        if (ln_f is not null) x = ln_f.forward(x);
        cache?.Advance((int)T);
        return x.MoveToOuterDisposeScope();                                // (B, T, C)
    }
}
