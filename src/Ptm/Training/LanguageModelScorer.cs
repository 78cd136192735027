using System.Text;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Training;

public sealed record ScoreResult(long Tokens, long Bytes, double Loss)
{
    public double Perplexity => Math.Exp(Loss);
    public double BitsPerByte => Loss * Tokens / Bytes / Math.Log(2);
}

/// <summary>Average next-token loss of a text under a GPT, over non-overlapping context-sized windows.</summary>
public static class LanguageModelScorer
{
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
        model.eval();
        using var _ = no_grad();
        for (int start = 0; start + 1 < ids.Length; start += block)
        {
            using var scope = NewDisposeScope();
            int length = Math.Min(block, ids.Length - 1 - start);
            var x = tensor(ids.AsSpan(start, length).ToArray().Select(i => (long)i).ToArray(), 1, length);
            var y = tensor(ids.AsSpan(start + 1, length).ToArray().Select(i => (long)i).ToArray(), 1, length);
            nats += Gpt.Loss(model.forward(x), y, normalizer: 1.0).item<float>();
            scored += length;
        }
        return new ScoreResult(scored, bytes, nats / scored);
    }
}
