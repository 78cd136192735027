using System.Text;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>One scored token: its id, its text (<see cref="ITokenizer.Decode"/> of the id alone; a byte-level token
/// holding part of a character shows U+FFFD) and the natural log of its probability given the tokens before it.</summary>
public sealed record TokenLogProbability(int Id, string Text, double LogProbability);

/// <summary>A text's score under a GPT: mean next-token loss over <paramref name="Tokens"/> scored tokens covering
/// <paramref name="Bytes"/> UTF-8 bytes, and every scored token's log-probability.</summary>
/// <param name="Tokens">tokens scored (the text's tokens; without an &lt;|endoftext|&gt; to condition on, all but the first)</param>
/// <param name="Bytes">UTF-8 bytes those tokens cover</param>
/// <param name="Loss">mean negative log-likelihood, nats per token</param>
public sealed record ScoreResult(long Tokens, long Bytes, double Loss)
{
    /// <summary>exp(<see cref="Loss"/>).</summary>
    public double Perplexity => Math.Exp(Loss);

    /// <summary>Total information in bits divided by the bytes: comparable across tokenizers.</summary>
    public double BitsPerByte => Loss * Tokens / Bytes / Math.Log(2);

    /// <summary>Each scored token's log-probability, in text order (<see cref="Tokens"/> of them).</summary>
    public IReadOnlyList<TokenLogProbability> TokenLogProbabilities { get; init; } = [];

    /// <summary>The text's total log-likelihood in nats: the sum of <see cref="TokenLogProbabilities"/>.</summary>
    public double TotalLogProbability => -Loss * Tokens;
}

/// <summary>
/// Average next-token loss of a text under a GPT, over non-overlapping context-sized windows. The model is borrowed
/// (the caller disposes it) and its train/eval mode is left as it was.
/// </summary>
public static class LanguageModelScorer
{
    /// <summary>Scores <paramref name="text"/>; <paramref name="source"/> names it in error messages (a file name, say).</summary>
    public static ScoreResult Score(Gpt model, ITokenizer tokenizer, string text, string source)
    {
        int[] ids = tokenizer.Encode(text);
        long bytes = Encoding.UTF8.GetByteCount(text);
        // GPT-2 practice: condition the first token on <|endoftext|> so every token of the text is scored.
        // Without such a token the first one has no context and is left out, with its bytes.
        if (tokenizer.EndOfTextId is int eot) ids = [eot, .. ids];
        else if (ids.Length > 0) bytes -= tokenizer.DecodeToBytes(ids.AsSpan(0, 1)).Length;
        if (ids.Length < 2) throw new InvalidInputException($"{source}: too short to score (needs at least {(tokenizer.EndOfTextId is null ? 2 : 1)} token(s))");
        foreach (int id in ids)
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new InvalidInputException($"{source}: token id {id} is outside the model's vocabulary [0, {model.Config.VocabSize})");

        int block = model.Config.NPositions;
        double nats = 0;
        long scored = 0;
        var perToken = new List<TokenLogProbability>(ids.Length - 1);
        using var mode = EvalMode.Enter(model);
        using var _ = no_grad();
        for (int start = 0; start + 1 < ids.Length; start += block)
        {
            using var scope = NewDisposeScope();
            int length = Math.Min(block, ids.Length - 1 - start);
            var x = tensor(ids.AsSpan(start, length).ToArray().Select(i => (long)i).ToArray(), 1, length);
            var y = tensor(ids.AsSpan(start + 1, length).ToArray().Select(i => (long)i).ToArray(), 1, length);
            var logits = model.forward(x);                                      // (1, L, V)
            nats += Gpt.Loss(logits, y, normalizer: 1.0).item<float>();
            var logProbs = logits[0].to_type(ScalarType.Float32).log_softmax(-1)
                .gather(1, y[0].unsqueeze(1)).squeeze(1);                       // (L)
            var values = logProbs.data<float>().ToArray();
            for (int i = 0; i < length; i++)
            {
                int id = ids[start + 1 + i];
                perToken.Add(new TokenLogProbability(id, tokenizer.Decode([id]), values[i]));
            }
            scored += length;
        }
        return new ScoreResult(scored, bytes, nats / scored) { TokenLogProbabilities = perToken };
    }
}
