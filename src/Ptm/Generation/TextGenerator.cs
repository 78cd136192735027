using System.Runtime.CompilerServices;
using System.Text;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>Autoregressive sampling from a GPT, streamed as text pieces as soon as they form whole characters.</summary>
public sealed class TextGenerator(Gpt model, ITokenizer tokenizer)
{
    /// <summary>Generates continuations of <paramref name="prompt"/> token by token. Pieces concatenate to the
    /// full continuation (after stop-string truncation).</summary>
    public IEnumerable<string> Generate(string prompt, GenerationOptions options, CancellationToken cancellation = default)
    {
        options.Validate();
        int[] promptIds = tokenizer.Encode(prompt);
        // An empty prompt means unconditional text: start from the document separator, as GPT-2 does.
        if (promptIds.Length == 0 && tokenizer.EndOfTextId is int eot) promptIds = [eot];
        return Detokenize(GenerateIds(promptIds, options, cancellation), options);
    }

    public async IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        // Torch work stays on one thread between yields (dispose scopes are thread-static), so each piece is
        // produced synchronously and the caller's awaits happen between tokens.
        foreach (var piece in Generate(prompt, options, cancellation))
        {
            cancellation.ThrowIfCancellationRequested();
            yield return piece;
            await Task.Yield();
        }
    }

    /// <summary>New token ids for a batch of one prompt, with or without the KV cache.</summary>
    public IEnumerable<int> GenerateIds(int[] promptIds, GenerationOptions options, CancellationToken cancellation = default)
    {
        options.Validate();
        int context = model.Config.NPositions;
        if (promptIds.Length == 0) throw new InvalidInputException("prompt is empty and the vocabulary has no <|endoftext|> to start from; give at least one token");
        if (promptIds.Length >= context)
            throw new InvalidInputException($"prompt is {promptIds.Length} tokens, longer than the context allows (n_positions = {context}, leaving no room to generate)");
        foreach (int id in promptIds)
            if ((uint)id >= (uint)model.Config.VocabSize)
                throw new InvalidInputException($"token id {id} is outside the model's vocabulary [0, {model.Config.VocabSize})");
        return Iterate(promptIds, options, cancellation);
    }

    IEnumerable<int> Iterate(int[] promptIds, GenerationOptions options, CancellationToken cancellation)
    {
        int context = model.Config.NPositions;
        var history = new List<int>(promptIds);
        using var rng = new torch.Generator((ulong)options.Seed);
        KvCache? cache = options.UseCache ? model.NewCache(1) : null;
        try
        {
            int start = 0; // history index held at cache position 0
            int fed = 0;   // history tokens already in the cache
            for (int n = 0; n < options.MaxNewTokens; n++)
            {
                cancellation.ThrowIfCancellationRequested();
                int next;
                using (var scope = NewDisposeScope())
                using (no_grad())
                {
                    Tensor logits;
                    if (cache is not null)
                    {
                        if (history.Count - start > context)
                        {
                            // Full: slide the window by refilling the cache with the most recent half context.
                            cache.Reset();
                            start = fed = history.Count - context / 2;
                        }
                        var input = tensor(history.Skip(fed).Select(i => (long)i).ToArray(), ScalarType.Int64).unsqueeze(0);
                        logits = model.Forward(input, cache);                        // (1, t, V)
                        fed = history.Count;
                    }
                    else
                    {
                        var window = history.Skip(Math.Max(0, history.Count - context)).Select(i => (long)i).ToArray();
                        logits = model.forward(tensor(window, ScalarType.Int64).unsqueeze(0)); // (1, T, V)
                    }
                    var last = logits[.., -1, ..];                                     // (1, V)
                    var seen = tensor(history.Select(i => (long)i).ToArray(), ScalarType.Int64).unsqueeze(0);
                    next = (int)LogitsProcessing.Choose(last, options, seen, rng).item<long>();
                }
                history.Add(next);
                yield return next;
            }
        }
        finally
        {
            cache?.Dispose();
        }
    }

    IEnumerable<string> Detokenize(IEnumerable<int> ids, GenerationOptions options)
    {
        var decoder = new UTF8Encoding(false, false).GetDecoder();
        var filter = new StopStringFilter(options.Stop);
        var chars = new char[64];
        foreach (int id in ids)
        {
            if (tokenizer.EndOfTextId == id) break;
            byte[] bytes = tokenizer.DecodeToBytes([id]);
            if (chars.Length < bytes.Length + 4) chars = new char[bytes.Length + 4];
            int count = decoder.GetChars(bytes, 0, bytes.Length, chars, 0, flush: false);
            string shown = filter.Push(new string(chars, 0, count));
            if (shown.Length > 0) yield return shown;
            if (filter.Stopped) yield break;
        }
        int tail = decoder.GetChars([], 0, 0, chars, 0, flush: true);
        string rest = filter.Push(new string(chars, 0, tail)) + filter.Flush();
        if (rest.Length > 0) yield return rest;
    }
}
