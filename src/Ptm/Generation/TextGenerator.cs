using System.Runtime.CompilerServices;
using Ptm.Modeling;
using Ptm.Tokenization;

namespace Ptm.Generation;

/// <summary>Autoregressive sampling from a GPT, streamed as text pieces as soon as they form whole characters.</summary>
public sealed class TextGenerator(Gpt model, ITokenizer tokenizer)
{
    /// <summary>Generates continuations of <paramref name="prompt"/> token by token. Pieces concatenate to the
    /// full continuation (after stop-string truncation).</summary>
    public IEnumerable<string> Generate(string prompt, GenerationOptions options, CancellationToken cancellation = default)
    {
        options.Validate();
        return Detokenize(GenerateIds(EncodePrompt(prompt), options, cancellation), options);
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

    /// <summary>
    /// Continuations of several prompts, decoded together as one batch (left-padded, so prompts may differ in
    /// length). Each row ends at &lt;|endoftext|&gt;, a stop string or <see cref="GenerationOptions.MaxNewTokens"/>; the batch
    /// stops once every row has ended. Greedy rows equal what <see cref="Generate"/> gives for each prompt alone;
    /// sampled rows draw from one random stream, so they differ from separate runs with the same seed.
    /// </summary>
    public IReadOnlyList<string> GenerateBatch(IReadOnlyList<string> prompts, GenerationOptions options, CancellationToken cancellation = default)
    {
        options.Validate();
        if (prompts.Count == 0) throw new InvalidInputException("no prompts given");
        var ids = prompts.Select(EncodePrompt).ToArray();
        var streams = prompts.Select(_ => new TokenTextStream(tokenizer, options.Stop)).ToArray();
        var texts = prompts.Select(_ => new System.Text.StringBuilder()).ToArray();
        foreach (int[] step in GenerateIds(ids, options, cancellation))
        {
            for (int b = 0; b < step.Length; b++) texts[b].Append(streams[b].Push(step[b]));
            if (streams.All(s => s.Finished)) break;
        }
        for (int b = 0; b < streams.Length; b++) texts[b].Append(streams[b].Finish());
        return texts.Select(t => t.ToString()).ToArray();
    }

    /// <summary>New token ids for a batch of one prompt, with or without the KV cache.</summary>
    public IEnumerable<int> GenerateIds(int[] promptIds, GenerationOptions options, CancellationToken cancellation = default) =>
        GenerateIds([promptIds], options, cancellation).Select(step => step[0]);

    /// <summary>
    /// New token ids for a batch of prompts: one array per step, holding the next id of every row. Enumerate as far as
    /// needed; stopping the enumeration stops the computation.
    /// </summary>
    public IEnumerable<int[]> GenerateIds(IReadOnlyList<int[]> prompts, GenerationOptions options, CancellationToken cancellation = default)
    {
        options.Validate();
        if (prompts.Count == 0) throw new InvalidInputException("no prompts given");
        int context = model.Config.NPositions;
        foreach (int[] promptIds in prompts)
        {
            if (promptIds.Length == 0) throw new InvalidInputException("prompt is empty and the vocabulary has no <|endoftext|> to start from; give at least one token");
            if (promptIds.Length >= context)
                throw new InvalidInputException($"prompt is {promptIds.Length} tokens, longer than the context allows (n_positions = {context}, leaving no room to generate)");
            foreach (int id in promptIds)
                if ((uint)id >= (uint)model.Config.VocabSize)
                    throw new InvalidInputException($"token id {id} is outside the model's vocabulary [0, {model.Config.VocabSize})");
        }
        return Iterate(prompts, options, cancellation);
    }

    IEnumerable<int[]> Iterate(IReadOnlyList<int[]> prompts, GenerationOptions options, CancellationToken cancellation)
    {
        using var decoder = new BatchDecoder(model, prompts, options);
        for (int n = 0; n < options.MaxNewTokens; n++)
        {
            cancellation.ThrowIfCancellationRequested();
            yield return decoder.Step();
        }
    }

    int[] EncodePrompt(string prompt)
    {
        int[] ids = tokenizer.Encode(prompt);
        // An empty prompt means unconditional text: start from the document separator, as GPT-2 does.
        if (ids.Length == 0 && tokenizer.EndOfTextId is int eot) ids = [eot];
        return ids;
    }

    IEnumerable<string> Detokenize(IEnumerable<int> ids, GenerationOptions options)
    {
        var stream = new TokenTextStream(tokenizer, options.Stop);
        foreach (int id in ids)
        {
            string shown = stream.Push(id);
            if (shown.Length > 0) yield return shown;
            if (stream.Finished) yield break;
        }
        string rest = stream.Finish();
        if (rest.Length > 0) yield return rest;
    }
}
