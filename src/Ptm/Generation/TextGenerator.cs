using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Ptm.Modeling;
using Ptm.Tokenization;

namespace Ptm.Generation;

/// <summary>
/// Autoregressive sampling from a GPT, streamed as text pieces as soon as they form whole characters. The model
/// and tokenizer are borrowed: the caller (for instance a <see cref="LoadedModel"/>) owns and disposes them, and must
/// not dispose the model while a generation is running. Each call puts the model in eval mode while it decodes and
/// restores the mode it found. One generation at a time per model: calls on the same model are not thread-safe.
/// </summary>
public sealed class TextGenerator(Gpt model, ITokenizer tokenizer)
{
    /// <summary>Generates a continuation of <paramref name="prompt"/> token by token, lazily on the enumerating thread.
    /// Pieces concatenate to the full continuation (after stop-string truncation).</summary>
    public IEnumerable<string> Generate(string prompt, GenerationOptions options, CancellationToken cancellation = default)
    {
        options.Validate();
        return Detokenize(GenerateIds(EncodePrompt(prompt), options, cancellation), options);
    }

    /// <summary>The whole continuation of <paramref name="prompt"/> as one string (blocking).</summary>
    public string GenerateText(string prompt, GenerationOptions options, CancellationToken cancellation = default) =>
        string.Concat(Generate(prompt, options, cancellation));

    /// <summary>
    /// Streams the continuation of <paramref name="prompt"/>. Decoding runs on a worker thread (TorchSharp's dispose
    /// scopes stay on it) and hands pieces over through a channel, so awaiting the next piece never runs the model on
    /// the caller's thread. <paramref name="cancellation"/> is checked between tokens; leaving the loop early also
    /// stops the worker. Errors in the prompt or options are thrown by the first MoveNextAsync.
    /// </summary>
    public async IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions options,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        options.Validate();
        int[] ids = EncodePrompt(prompt);
        CheckPrompts([ids]);
        var channel = Channel.CreateBounded<string>(new BoundedChannelOptions(64) { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        Exception? failure = null;
        var worker = Task.Factory.StartNew(() =>
        {
            try
            {
                foreach (string piece in Detokenize(Iterate([ids], options, stop.Token).Select(step => step[0]), options))
                    channel.Writer.WriteAsync(piece, stop.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
            catch (Exception e) { failure = e; }
            finally { channel.Writer.Complete(); }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellation).ConfigureAwait(false))
                while (channel.Reader.TryRead(out string? piece))
                {
                    // Pieces may be waiting in the channel: a cancelled caller gets none of them.
                    cancellation.ThrowIfCancellationRequested();
                    yield return piece;
                }
        }
        finally
        {
            stop.Cancel();
            await worker.ConfigureAwait(false);
        }
        if (failure is not null) ExceptionDispatchInfo.Capture(failure).Throw();
        cancellation.ThrowIfCancellationRequested();
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

    /// <summary>
    /// Beam search continuations of several prompts, decoded together (<see cref="BeamSearch.Run"/>): per prompt the
    /// <see cref="BeamSearchOptions.NumReturnSequences"/> best, best first, as text without the &lt;|endoftext|&gt; that
    /// ended them. Unless <paramref name="options"/> names one, the tokenizer's &lt;|endoftext|&gt; ends a hypothesis;
    /// the prompt counts for <see cref="BeamSearchOptions.NoRepeatNgramSize"/>, as in Hugging Face's generate().
    /// </summary>
    public IReadOnlyList<IReadOnlyList<(string Text, double Score)>> GenerateBeams(IReadOnlyList<string> prompts, BeamSearchOptions options,
        CancellationToken cancellation = default)
    {
        options.Validate();
        if (prompts.Count == 0) throw new InvalidInputException("no prompts given");
        var ids = prompts.Select(EncodePrompt).ToArray();
        CheckPrompts(ids);
        options = options with { EosTokenId = options.EosTokenId ?? tokenizer.EndOfTextId };
        using var decoder = new GptStepDecoder(model, ids);
        var found = BeamSearch.Run(decoder, options, ids, cancellation);
        return found.Select(list => (IReadOnlyList<(string, double)>)list.Select(h =>
        {
            int n = h.Tokens.Length > 0 && h.Tokens[^1] == options.EosTokenId ? h.Tokens.Length - 1 : h.Tokens.Length;
            return (tokenizer.Decode(h.Tokens.AsSpan(0, n)), h.Score);
        }).ToArray()).ToArray();
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
        CheckPrompts(prompts);
        return Iterate(prompts, options, cancellation);
    }

    void CheckPrompts(IReadOnlyList<int[]> prompts)
    {
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
    }

    IEnumerable<int[]> Iterate(IReadOnlyList<int[]> prompts, GenerationOptions options, CancellationToken cancellation)
    {
        using var mode = EvalMode.Enter(model);
        using var decoder = new BatchDecoder(model, prompts, options);
        for (int n = 0; n < options.MaxNewTokens; n++)
        {
            cancellation.ThrowIfCancellationRequested();
            yield return decoder.Step();
        }
    }

    /// <summary>
    /// Longest prompt accepted, in characters: 1 Mi. A prompt must fit the model's context (n_positions tokens, a few
    /// thousand at most here), so a longer one is refused before it is tokenized rather than encoded at length first.
    /// </summary>
    public const int MaxPromptChars = 1 << 20;

    int[] EncodePrompt(string prompt)
    {
        if (prompt.Length > MaxPromptChars)
            throw new InvalidInputException($"the prompt is {prompt.Length} characters, over the limit of {MaxPromptChars} (TextGenerator.MaxPromptChars)");
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
