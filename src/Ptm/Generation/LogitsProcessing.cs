using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>The steps between the model's last-position logits and the next token, each a pure function.</summary>
internal static class LogitsProcessing
{
    /// <summary>logits (B, V); context (B, L) ids already seen.</summary>
    public static Tensor ApplyRepetitionPenalty(Tensor logits, Tensor context, double penalty)
    {
        if (penalty == 1.0) return logits;
        using var scope = NewDisposeScope();
        return PenalizeSeen(logits, SeenMask(context, logits.size(1)), penalty).MoveToOuterDisposeScope();
    }

    /// <summary>The repetition penalty with the context as a mask: logits (B, V); <paramref name="seen"/> (B, V) boolean,
    /// true for ids already in that row's context. Each seen id is penalised once, however often it occurred.</summary>
    public static Tensor PenalizeSeen(Tensor logits, Tensor seen, double penalty)
    {
        if (penalty == 1.0) return logits;
        var penalised = where(logits > 0, logits / penalty, logits * penalty);
        return where(seen, penalised, logits);
    }

    /// <summary>(B, V) boolean mask of the ids in <paramref name="context"/> (B, L).</summary>
    public static Tensor SeenMask(Tensor context, long vocabSize) =>
        zeros([context.size(0), vocabSize], ScalarType.Bool, context.device).scatter_(1, context, ones_like(context, ScalarType.Bool));

    /// <summary>Top-k filtering: logits (B, V) with every entry below the row's k-th largest set to -inf (ties kept);
    /// k ≤ 0 or k ≥ V returns <paramref name="logits"/> itself.</summary>
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

    /// <summary>
    /// Next token ids (B) from last-position logits (B, V). <paramref name="seen"/> is the (B, V) mask of
    /// <see cref="SeenMask"/>, needed only when a repetition penalty is set. Greedy decoding is a plain argmax: no
    /// softmax, no copy.
    /// </summary>
    public static Tensor Choose(Tensor logits, GenerationOptions options, Tensor? seen, torch.Generator rng)
    {
        if (logits.dtype != ScalarType.Float32) logits = logits.to(ScalarType.Float32);
        if (options.RepetitionPenalty != 1.0)
            logits = PenalizeSeen(logits, seen ?? throw new ArgumentNullException(nameof(seen), "a repetition penalty needs the seen-token mask"),
                options.RepetitionPenalty);
        if (options.Temperature == 0) return logits.argmax(-1);
        logits = TopP(TopK(logits / options.Temperature, options.TopK), options.TopP);
        return multinomial(logits.softmax(-1), 1, generator: rng).squeeze(-1);
    }
}
