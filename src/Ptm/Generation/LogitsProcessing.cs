using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>The steps between the model's last-position logits and the next token, each a pure function.</summary>
public static class LogitsProcessing
{
    /// <summary>logits (B, V); context (B, L) ids already seen.</summary>
    public static Tensor ApplyRepetitionPenalty(Tensor logits, Tensor context, double penalty)
    {
        if (penalty == 1.0) return logits;
        var seen = logits.gather(1, context);                              // (B, L)
        var penalised = where(seen > 0, seen / penalty, seen * penalty);
        return logits.scatter(1, context, penalised);
    }

    public static Tensor TopK(Tensor logits, int k)
    {
        if (k <= 0 || k >= logits.shape[^1]) return logits;
        var kth = logits.topk(k, dim: -1).values[.., ^1..];               // (B, 1)
        return logits.masked_fill(logits < kth, double.NegativeInfinity);
    }

    /// <summary>Nucleus filtering (Holtzman et al. 2019): drop the tail once the cumulative probability of
    /// the more likely tokens reaches p, always keeping the most likely token.</summary>
    public static Tensor TopP(Tensor logits, double p)
    {
        if (p >= 1.0) return logits;
        var (sorted, order) = logits.sort(dim: -1, descending: true);
        var cumulative = sorted.softmax(-1).cumsum(-1);
        // Remove a token when the tokens strictly before it already reach p.
        var remove = (cumulative - sorted.softmax(-1)) >= p;
        var removeOriginal = zeros_like(remove).scatter(-1, order, remove);
        return logits.masked_fill(removeOriginal, double.NegativeInfinity);
    }

    /// <summary>Next token ids (B) from last-position logits (B, V).</summary>
    public static Tensor Choose(Tensor logits, GenerationOptions options, Tensor context, torch.Generator rng)
    {
        logits = ApplyRepetitionPenalty(logits.to(ScalarType.Float32), context, options.RepetitionPenalty);
        if (options.Temperature == 0) return logits.argmax(-1);
        logits = TopP(TopK(logits / options.Temperature, options.TopK), options.TopP);
        return multinomial(logits.softmax(-1), 1, generator: rng).squeeze(-1);
    }
}
