using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// ELMo's bidirectional language model (Peters et al. 2018, §3.1 and §3.4): a character-CNN token encoder, a forward
/// and a backward stack of LSTM layers (projected, residual from the second layer on) and one softmax shared by both
/// directions. The forward LM reads tokens 1..t to predict t+1; the backward LM reads tokens n..t to predict t−1; the
/// training objective is the sum of both log-likelihoods. A sentence is read as <c>&lt;S&gt; w1 … wn &lt;/S&gt;</c>.
/// </summary>
/// <remarks>
/// Each LSTM layer is torch's fused LSTM (cell and hidden width <see cref="ElmoConfig.LstmDim"/>) followed by a linear
/// projection to <see cref="ElmoConfig.ProjectionDim"/>; unlike the paper's LSTMP cells, the recurrence runs on the
/// unprojected hidden state (TorchSharp's LSTM has no <c>proj_size</c>). The backward direction is the same kind of
/// stack run on each sequence reversed within its length, so padding after a sequence never reaches its states.
/// </remarks>
public sealed class ElmoBiLm : Module<Tensor, Tensor>
{
    readonly ElmoCharCnn char_cnn;
    readonly ModuleList<ElmoLstmLayer> forward_layers;
    readonly ModuleList<ElmoLstmLayer> backward_layers;
    readonly Linear softmax;
    readonly Dropout dropout;

    /// <summary>A freshly initialised biLM (torch's default initialisation; highway gates start open to carry their input).</summary>
    /// <exception cref="InvalidInputException">A field of <paramref name="config"/> is out of range.</exception>
    public ElmoBiLm(ElmoConfig config) : base("ElmoBiLm")
    {
        config.Validate("model config");
        Config = config;
        char_cnn = new ElmoCharCnn(config);
        forward_layers = new ModuleList<ElmoLstmLayer>(Enumerable.Range(0, config.NLayers).Select(_ => new ElmoLstmLayer(config)).ToArray());
        backward_layers = new ModuleList<ElmoLstmLayer>(Enumerable.Range(0, config.NLayers).Select(_ => new ElmoLstmLayer(config)).ToArray());
        softmax = new Linear(config.ProjectionDim, config.VocabSize);
        dropout = Dropout(config.Dropout);
        RegisterComponents();
    }

    /// <summary>The hyper-parameters the model was built from.</summary>
    public ElmoConfig Config { get; }

    /// <summary>Number of representation layers: the token layer plus one per LSTM layer.</summary>
    public int LayerCount => Config.NLayers + 1;

    /// <summary>Width of every representation layer: forward and backward states concatenated, 2·P.</summary>
    public int OutputDim => 2 * Config.ProjectionDim;

    /// <summary>Character ids (B, T, L) to the top layer's states (B, T, 2P).</summary>
    public override Tensor forward(Tensor chars)
    {
        using var scope = NewDisposeScope();
        return Layers(chars, null)[-1].MoveToOuterDisposeScope();
    }

    /// <summary>Character ids (…, L) to context-free token representations (…, P): the char-CNN, highway and projection.</summary>
    public Tensor TokenRepresentation(Tensor chars) => char_cnn.forward(chars);

    /// <summary>
    /// Both directions over token representations <paramref name="tokens"/> (B, T, P). <paramref name="lengths"/> (B),
    /// when given, is each row's real length (real tokens first, padding after); null means every row is T long.
    /// Returns each layer's outputs per direction, in the input's order (the backward states un-reversed).
    /// </summary>
    public ElmoStates Directions(Tensor tokens, Tensor? lengths)
    {
        using var scope = NewDisposeScope();
        var x = dropout.training ? dropout.forward(tokens) : tokens;                   // (B, T, P)
        var forwardStates = RunStack(forward_layers, x);
        var reversal = ReversalIndex(tokens, lengths);                                   // (B, T) or null
        var backwardReversed = RunStack(backward_layers, Reverse(x, reversal));
        var backwardStates = backwardReversed.Select(h => Reverse(h, reversal)).ToArray();
        return new ElmoStates(tokens.MoveToOuterDisposeScope(),
            forwardStates.Select(h => h.MoveToOuterDisposeScope()).ToArray(),
            backwardStates.Select(h => h.MoveToOuterDisposeScope()).ToArray());
    }

    /// <summary>
    /// The paper's representation layers for character ids (B, T, L): (NLayers + 1, B, T, 2P), layer 0 the token
    /// representation repeated for both directions, layer j the forward and backward states of LSTM layer j concatenated.
    /// </summary>
    public Tensor Layers(Tensor chars, Tensor? lengths)
    {
        using var scope = NewDisposeScope();
        var states = Directions(TokenRepresentation(chars), lengths);
        return states.Layers().MoveToOuterDisposeScope();
    }

    /// <summary>Shared-softmax logits (B, T, V) of both directions' top states: the forward LM's prediction of the next
    /// token and the backward LM's prediction of the previous one.</summary>
    public (Tensor Forward, Tensor Backward) Logits(ElmoStates states) =>
        (softmax.forward(states.Forward[^1]), softmax.forward(states.Backward[^1]));

    /// <summary>Number of scalar parameters.</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());

    Tensor[] RunStack(ModuleList<ElmoLstmLayer> layers, Tensor x)
    {
        var outputs = new Tensor[layers.Count];
        for (int i = 0; i < layers.Count; i++)
        {
            var h = layers[i].forward(x);                                                // (B, T, P)
            if (Config.Residual && i > 0) h = h + x;                                     // residual from the second layer on
            outputs[i] = h;
            x = dropout.training ? dropout.forward(h) : h;
        }
        return outputs;
    }

    /// <summary>Per row, position t ↦ length−1−t inside the row's length and t after it; null when rows are full length (then a flip).</summary>
    static Tensor? ReversalIndex(Tensor tokens, Tensor? lengths)
    {
        if (lengths is null) return null;
        long T = tokens.size(1);
        var t = arange(T, dtype: ScalarType.Int64, device: tokens.device).unsqueeze(0);      // (1, T)
        var len = lengths.to(ScalarType.Int64).unsqueeze(1);                                 // (B, 1)
        return where(t.lt(len), len - 1 - t, t);                                             // (B, T)
    }

    static Tensor Reverse(Tensor x, Tensor? index) =>
        index is null ? x.flip(1) : x.gather(1, index.unsqueeze(-1).expand(x.shape));       // (B, T, P)
}

/// <summary>Both directions' states for a batch: the token representations (B, T, P) and each LSTM layer's (B, T, P) output per direction.</summary>
public sealed record ElmoStates(Tensor Tokens, Tensor[] Forward, Tensor[] Backward)
{
    /// <summary>(NLayers + 1, B, T, 2P): [token; token], then [forward_j; backward_j] for each layer j (the paper's h_k,j^LM).</summary>
    public Tensor Layers()
    {
        var layers = new List<Tensor> { cat([Tokens, Tokens], -1) };
        for (int j = 0; j < Forward.Length; j++) layers.Add(cat([Forward[j], Backward[j]], -1));
        return stack(layers);
    }
}

/// <summary>
/// The character-CNN token encoder (Kim et al. 2016, as ELMo uses it): character embeddings, convolutions of several
/// widths each max-pooled over the word and passed through ReLU, highway layers, and a linear projection to P.
/// </summary>
public sealed class ElmoCharCnn : Module<Tensor, Tensor>
{
    readonly Embedding char_embedding;
    readonly ModuleList<Conv1d> convolutions;
    readonly ModuleList<Linear> highways;
    readonly Linear projection;

    /// <summary>An encoder for <paramref name="config"/>'s filters, highway layers and projection.</summary>
    public ElmoCharCnn(ElmoConfig config) : base("char_cnn")
    {
        char_embedding = Embedding(ElmoVocabulary.CharVocabSize, config.CharEmbeddingDim, padding_idx: ElmoVocabulary.PaddingChar);
        convolutions = new ModuleList<Conv1d>(config.Filters.Select(f => Conv1d(config.CharEmbeddingDim, f[1], f[0])).ToArray());
        int d = config.FilterTotal;
        highways = new ModuleList<Linear>(Enumerable.Range(0, config.NHighway).Select(_ => new Linear(d, 2 * d)).ToArray());
        projection = new Linear(d, config.ProjectionDim);
        RegisterComponents();
        using var _ = no_grad();
        foreach (var h in highways) h.Bias![d..].fill_(1.0); // carry gate biased open, as in Srivastava et al.
    }

    /// <summary>Character ids (…, L) to token representations (…, P).</summary>
    public override Tensor forward(Tensor chars)
    {
        using var scope = NewDisposeScope();
        var shape = chars.shape;
        long L = shape[^1];
        var e = char_embedding.forward(chars.reshape(-1, L)).transpose(1, 2);           // (N, E, L)
        var pooled = convolutions.Select(conv => functional.relu(conv.forward(e).amax([-1]))).ToList(); // each (N, filters)
        var h = cat(pooled, -1);                                                          // (N, D)
        long d = h.size(-1);
        foreach (var highway in highways)
        {
            var parts = highway.forward(h);                                               // (N, 2D)
            var nonlinear = functional.relu(parts[.., ..(int)d]);
            var gate = sigmoid(parts[.., (int)d..]);
            h = gate * h + (1 - gate) * nonlinear;                                        // carry where the gate is open
        }
        var p = projection.forward(h);                                                    // (N, P)
        return p.reshape([.. shape[..^1], p.size(-1)]).MoveToOuterDisposeScope();       // (…, P)
    }
}

/// <summary>One LSTM layer of one direction: an LSTM of <see cref="ElmoConfig.LstmDim"/> units over (B, T, P) inputs,
/// projected back to P.</summary>
public sealed class ElmoLstmLayer : Module<Tensor, Tensor>
{
    readonly LSTM lstm;
    readonly Linear projection;

    /// <summary>A layer for <paramref name="config"/>'s widths.</summary>
    public ElmoLstmLayer(ElmoConfig config) : base("ElmoLstmLayer")
    {
        lstm = LSTM(config.ProjectionDim, config.LstmDim, batchFirst: true);
        projection = new Linear(config.LstmDim, config.ProjectionDim);
        RegisterComponents();
    }

    /// <summary>Inputs (B, T, P), read left to right from a zero state, to projected outputs (B, T, P).</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (h, _, _) = lstm.forward(x);                                                  // (B, T, H)
        return projection.forward(h).MoveToOuterDisposeScope();                           // (B, T, P)
    }
}

/// <summary>
/// ELMo's task-specific combination of the biLM layers (§3.2, eq. 1): ELMo = γ · Σ_j softmax(s)_j · h_j, with one
/// learned weight s_j per layer and a scale γ. Starting from s = 0 and γ = 1 it is the plain average of the layers.
/// </summary>
public sealed class ScalarMix : Module<Tensor, Tensor>
{
    readonly Parameter scalar_parameters;
    readonly Parameter gamma;

    /// <summary>A mix of <paramref name="layerCount"/> layers, initially their average.</summary>
    public ScalarMix(int layerCount) : base("ScalarMix")
    {
        if (layerCount < 1) throw new ArgumentOutOfRangeException(nameof(layerCount), "a scalar mix needs at least one layer");
        scalar_parameters = Parameter(zeros(layerCount));
        gamma = Parameter(ones(1));
        RegisterComponents();
    }

    /// <summary>The layer weights s (before the softmax).</summary>
    public Tensor Weights => scalar_parameters;

    /// <summary>The scale γ (one element).</summary>
    public Tensor Gamma => gamma;

    /// <summary>Layers (J, …) to γ · Σ_j softmax(s)_j · layers[j] (…).</summary>
    public override Tensor forward(Tensor layers)
    {
        using var scope = NewDisposeScope();
        var w = functional.softmax(scalar_parameters, 0).to(layers.dtype);               // (J)
        var shape = new long[layers.dim()];
        Array.Fill(shape, 1L);
        shape[0] = w.size(0);
        var mixed = (layers * w.view(shape)).sum(dim: 0L) * gamma.to(layers.dtype);            // (…)
        return mixed.MoveToOuterDisposeScope();
    }
}
