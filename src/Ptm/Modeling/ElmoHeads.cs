using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>
/// A sentence (or sentence-pair) classifier over ELMo (Peters et al. 2018, §3.3): the biLM's layers mixed by a learned
/// <see cref="ScalarMix"/> (γ · Σ softmax(s)_j h_j), mean-pooled over the words, and a linear layer. A pair is pooled
/// per sentence into [a; b; |a − b|; a ⊙ b], the usual features for sentence-pair tasks over separate encodings.
/// </summary>
/// <remarks>
/// Inputs are character ids flattened per word: a sequence of W words is W × <see cref="ElmoConfig.MaxCharactersPerToken"/>
/// ids (see <c>ElmoTaskEncoder</c>); the segment ids say which sentence of a pair a word belongs to. The biLM stays
/// trainable unless its parameters are frozen (fine-tuning's FreezeEncoder keeps only <c>scalar_mix.*</c> and
/// <c>classifier.*</c> training, the paper's setting).
/// </remarks>
public sealed class ElmoForSequenceClassification : Module<Tensor, Tensor>, ITaskHead
{
    readonly ElmoBiLm elmo;
    readonly ScalarMix scalar_mix;
    readonly Dropout dropout;
    readonly Linear classifier;
    readonly bool pair;

    /// <summary>A head of <paramref name="numLabels"/> outputs over <paramref name="elmo"/> (owned from now on);
    /// <paramref name="pair"/> pools the two sentences of a pair separately.</summary>
    public ElmoForSequenceClassification(ElmoBiLm elmo, int numLabels, bool pair) : base("ElmoForSequenceClassification")
    {
        this.elmo = elmo;
        this.pair = pair;
        scalar_mix = new ScalarMix(elmo.LayerCount);
        dropout = Dropout(0.1);
        classifier = new Linear((pair ? 4 : 1) * elmo.OutputDim, numLabels);
        RegisterComponents();
    }

    /// <summary>The biLM (owned by the head).</summary>
    public ElmoBiLm Elmo => elmo;

    /// <summary>The learned layer mix.</summary>
    public ScalarMix Mix => scalar_mix;

    /// <inheritdoc/>
    public ModelFamily Family => ModelFamily.Elmo;

    /// <summary>Character ids (B, W·L) of single sentences to logits (B, num_labels).</summary>
    public override Tensor forward(Tensor chars) =>
        Forward(new TaskHeadInputs(chars.unsqueeze(1), zeros_like(chars).unsqueeze(1), ones_like(chars).unsqueeze(1), zeros(chars.size(0), 1, ScalarType.Int64)), false).Scores;

    /// <summary>Logits (B, num_labels) for one sequence per example (K = 1); ELMo has no language-model output here.</summary>
    /// <exception cref="InvalidInputException">More than one sequence per example, or a length that is not whole words.</exception>
    public (Tensor Scores, Tensor? LmLogits) Forward(TaskHeadInputs inputs, bool withLm)
    {
        long B = inputs.InputIds.size(0), K = inputs.InputIds.size(1), T = inputs.InputIds.size(2);
        int L = elmo.Config.MaxCharactersPerToken;
        if (K != 1) throw new InvalidInputException($"an ELMo sequence classifier reads one sequence per example (got {K})");
        if (T % L != 0) throw new InvalidInputException($"ELMo inputs are {L} character ids per word; a sequence of {T} ids is not whole words");
        using var scope = NewDisposeScope();
        long W = T / L;
        var chars = inputs.InputIds.view(B, W, L);                                           // (B, W, L)
        var words = inputs.AttentionMask.view(B, W, L)[.., .., 0].to(ScalarType.Float32);    // (B, W) 1 for real words
        var layers = elmo.Layers(chars, words.sum(-1).to(ScalarType.Int64));                 // (J, B, W, 2P)
        var mixed = dropout.forward(scalar_mix.forward(layers));                            // (B, W, 2P)
        Tensor Pool(Tensor mask)                                                             // (B, W) → (B, 2P)
        {
            var m = mask.to(mixed.dtype).unsqueeze(-1);
            return (mixed * m).sum(dim: 1L) / m.sum(dim: 1L).clamp_min(1);
        }
        Tensor features;
        if (pair)
        {
            var second = inputs.TokenTypeIds.view(B, W, L)[.., .., 0].to(ScalarType.Float32); // (B, W) 1 in the second sentence
            var a = Pool(words * (1 - second));
            var b = Pool(words * second);
            features = cat([a, b, (a - b).abs(), a * b], -1);                               // (B, 4·2P)
        }
        else features = Pool(words);                                                         // (B, 2P)
        return (classifier.forward(features).MoveToOuterDisposeScope(), null);              // (B, num_labels)
    }
}
