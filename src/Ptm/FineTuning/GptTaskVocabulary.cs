using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.FineTuning;

/// <summary>The ids of GPT-1's three task tokens (Radford et al. 2018, §3.3).</summary>
public sealed record GptTaskTokens(int Start, int Delimiter, int Extract);

/// <summary>
/// Adds GPT-1's start, delimiter and extract tokens to a pre-trained GPT and its byte-level BPE vocabulary. They are
/// appended after the existing ids, so every old id keeps its meaning and its embedding row bit for bit; the new
/// rows are drawn from N(0, initializer_range), GPT's own initialisation. A model that already has them (one
/// fine-tuned before) is returned unchanged.
/// </summary>
public static class GptTaskVocabulary
{
    /// <summary>The task tokens' texts: start, delimiter and extract.</summary>
    public const string Start = "<|start|>", Delimiter = "<|delim|>", Extract = "<|extract|>";
    /// <summary>The three task tokens in the order they are appended to the vocabulary.</summary>
    public static IReadOnlyList<string> Tokens { get; } = [Start, Delimiter, Extract];

    /// <summary>The model and tokenizer with the task tokens, and their ids. When they are added the model is a new
    /// <see cref="Gpt"/> the caller owns, in <paramref name="model"/>'s training mode; <paramref name="model"/> is left
    /// as it was and the caller still disposes it.</summary>
    public static (Gpt Model, ByteLevelBpeTokenizer Tokenizer, GptTaskTokens Ids) Extend(Gpt model, ByteLevelBpeTokenizer tokenizer)
    {
        if (Find(tokenizer) is { } existing) return (model, tokenizer, existing);
        var vocabulary = Enumerable.Range(0, tokenizer.VocabSize).Select(tokenizer.TokenText).Concat(Tokens).ToList();
        var grown = new ByteLevelBpeTokenizer(vocabulary, tokenizer.Merges, tokenizer.SpecialTokens.Concat(Tokens));
        int oldRows = model.Config.VocabSize;
        int rows = Math.Max(oldRows, grown.VocabSize);
        var config = model.Config with { VocabSize = rows };
        var larger = new Gpt(config);
        using (no_grad())
        {
            var source = model.state_dict();
            foreach (var (name, dest) in larger.state_dict())
            {
                if (name == "transformer.wte.weight")
                {
                    dest.narrow(0, 0, oldRows).copy_(source[name]);
                    // Ids at or above the tokenizer's old size were never produced in pre-training; the task tokens
                    // start fresh there, whether the matrix grew or already had spare (padding) rows.
                    int first = tokenizer.VocabSize;
                    dest.narrow(0, first, rows - first).normal_(0, config.InitializerRange);
                }
                else dest.copy_(source[name]);
            }
        }
        larger.train(model.training);
        return (larger, grown, Find(grown)!);
    }

    /// <summary>The three ids if the tokenizer has all of them as special tokens, else null.</summary>
    public static GptTaskTokens? Find(ByteLevelBpeTokenizer tokenizer)
    {
        int? Id(string token)
        {
            int i = tokenizer.SpecialTokens.ToList().IndexOf(token);
            if (i < 0) return null;
            var ids = tokenizer.Encode(token);
            return ids.Length == 1 ? ids[0] : null;
        }
        return Id(Start) is int s && Id(Delimiter) is int d && Id(Extract) is int e ? new GptTaskTokens(s, d, e) : null;
    }
}
