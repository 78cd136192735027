using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Features;
using Ptm.Generation;
using Ptm.Serving;

namespace Ptm.Server;

/// <summary>The request handlers: parse and check the body, hand the work to the model's scheduler, answer in
/// OpenAI's JSON (or server-sent events when <c>stream</c> is true).</summary>
sealed class Endpoints(IReadOnlyDictionary<string, ServedModel> models, ServerOptions options, ServingMetrics metrics)
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.General);

    static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    ServedModel Model(ApiRequest r, string capability)
    {
        string name = r.RequiredString("model");
        if (!models.TryGetValue(name, out var m))
            throw new ApiException(404, $"model '{name}' does not exist (GET /v1/models lists the served models)", param: "model", code: "model_not_found");
        if (!m.Capabilities.Contains(capability))
            throw new ApiException(400, capability == "chat" && m.Model.Gpt is not null
                    ? $"model '{name}' has no chat template ({ChatTemplate.FileName} in its folder), so it takes no chat completions; use /v1/completions"
                    : $"model '{name}' ({m.Model.Description}) cannot do {capability}; it can do: {string.Join(", ", m.Capabilities)}",
                param: "model", code: "unsupported_model");
        return m;
    }

    public IResult ListModels() => Results.Json(new
    {
        @object = "list",
        data = models.Values.Select(m => new { id = m.Name, @object = "model", created = 0, owned_by = "ptm", capabilities = m.Capabilities }),
    });

    GenerationOptions Sampling(ApiRequest r, string maxTokensField = "max_tokens")
    {
        var d = options.Defaults;
        int? maxTokens = r.Int(maxTokensField, 0, options.MaxTokens) ?? (maxTokensField == "max_tokens" ? null : r.Int("max_tokens", 0, options.MaxTokens));
        var stop = r.Strings("stop", 4) ?? [];
        if (stop.Any(s => s.Length == 0)) throw new ApiException(400, "'stop' must not contain empty strings", param: "stop", code: "invalid_value");
        foreach (string field in (string[])["frequency_penalty", "presence_penalty"])
            if (r.Double(field, -2, 2) is double p && p != 0)
                throw new ApiException(400, $"'{field}' is not supported (use 'repetition_penalty')", param: field, code: "unsupported_parameter");
        r.Int("best_of", 1, 1);
        return d with
        {
            MaxNewTokens = maxTokens ?? Math.Min(d.MaxNewTokens, options.MaxTokens),
            Temperature = r.Double("temperature", 0, 2) ?? d.Temperature,
            TopP = r.Double("top_p", 0, 1) is double topP ? (topP == 0 ? throw new ApiException(400, "'top_p' must be in (0, 1]", param: "top_p", code: "out_of_range") : topP) : d.TopP,
            TopK = r.Int("top_k", 0, 100_000) ?? d.TopK,
            RepetitionPenalty = r.Double("repetition_penalty", 0.01, 100) ?? d.RepetitionPenalty,
            Stop = stop,
            Seed = r.Long("seed") ?? d.Seed,
        };
    }

    /// <summary>
    /// Cancels the request's token source when the handler leaves, however it leaves. The rows must not depend on the
    /// abort reaching them through the linked source: the abort also wakes the handler's own awaits, and a handler that
    /// gets out first disposes the linked source before its callback runs, so the rows would decode to their end for
    /// nobody. Cancelling rows that already finished does nothing.
    /// </summary>
    readonly struct CancelOnExit(CancellationTokenSource source) : IDisposable
    {
        public void Dispose() => source.Cancel();
    }

    /// <summary>Submits every choice, or none: a full queue cancels those already in and answers 429.</summary>
    static CompletionStream[] Submit(ServedModel m, IReadOnlyList<CompletionRequest> requests, CancellationToken cancellation, CancellationTokenSource all)
    {
        var streams = new CompletionStream[requests.Count];
        for (int i = 0; i < requests.Count; i++)
            if (!m.Scheduler.TrySubmit(requests[i], cancellation, out streams[i]))
            {
                all.Cancel();
                throw new ModelOverloadedException(m.Name);
            }
        return streams;
    }

    static IReadOnlyList<CompletionRequest> Choices(IReadOnlyList<string> prompts, int n, GenerationOptions sampling, bool seeded, int logProbs) =>
        prompts.SelectMany(p => Enumerable.Range(0, n).Select(j => new CompletionRequest
        {
            Prompt = p,
            // n choices of one prompt sample different streams: seed, seed + 1, ...; unseeded requests draw a seed.
            Options = sampling with { Seed = seeded ? sampling.Seed + j : Random.Shared.NextInt64() },
            LogProbs = logProbs,
        })).ToArray();

    public async Task Completions(HttpContext context)
    {
        var aborted = context.RequestAborted;
        var r = await ApiRequest.ReadAsync(context.Request, aborted);
        var m = Model(r, "completions");
        var prompts = r.Strings("prompt", options.MaxChoices) ?? throw new ApiException(400, "'prompt' is required", param: "prompt", code: "missing_field");
        if (prompts.Count == 0) throw new ApiException(400, "'prompt' must hold at least one prompt", param: "prompt", code: "invalid_value");
        int n = r.Int("n", 1, options.MaxChoices) ?? 1;
        if (prompts.Count * n > options.MaxChoices)
            throw new ApiException(400, $"{prompts.Count} prompts x n = {n} asks for more than {options.MaxChoices} completions", param: "n", code: "out_of_range");
        var sampling = Sampling(r);
        int logProbs = r.Int("logprobs", 0, 20) ?? -1;
        bool echo = r.Bool("echo", false), stream = r.Bool("stream", false);
        bool includeUsage = r.Object("stream_options") is { } so && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        using var all = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        using var _ = new CancelOnExit(all);
        var started = Stopwatch.StartNew();
        var streams = Submit(m, Choices(prompts, n, sampling, r.Has("seed"), logProbs), all.Token, all);
        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = Now;
        GeneratedToken?[][]? echoed = null;
        if (echo && logProbs >= 0)
        {
            var gpt = m.Model.Gpt!;
            if (!m.Scheduler.TryRun(model => streams.Select(s => PromptLogProbabilities.Of(gpt, model.Tokenizer, s.PromptIds, logProbs)).ToArray(), out var job))
            {
                all.Cancel();
                throw new ModelOverloadedException(m.Name);
            }
            echoed = await job.WaitAsync(aborted);
        }
        var tokenizer = m.Model.Tokenizer;
        var logs = streams.Select(_ => new LogProbsBuilder(tokenizer)).ToArray();
        if (echoed is not null)
            for (int i = 0; i < streams.Length; i++)
                for (int t = 0; t < streams[i].PromptIds.Count; t++)
                    logs[i].Add(echoed[i][t] ?? new GeneratedToken(streams[i].PromptIds[t], tokenizer.Decode([streams[i].PromptIds[t]]), float.NaN, null), null);

        if (!stream)
        {
            var texts = new string[streams.Length];
            var reasons = new string[streams.Length];
            bool first = true;
            for (int i = 0; i < streams.Length; i++)
            {
                var text = new System.Text.StringBuilder(echo ? prompts[i / n] : "");
                await foreach (var token in streams[i].ReadAllAsync(aborted))
                {
                    if (first) { metrics.FirstToken(m.Name, started.Elapsed); first = false; }
                    text.Append(token.Text);
                    if (logProbs >= 0) logs[i].Add(token, token.Text);
                }
                texts[i] = text.ToString();
                reasons[i] = await streams[i].FinishReason;
            }
            int completion = streams.Sum(s => s.CompletionTokens);
            metrics.Generated(m.Name, completion);
            metrics.Answered("completions", 200);
            await Results.Json(new
            {
                id, @object = "text_completion", created, model = m.Name,
                choices = streams.Select((s, i) => new { text = texts[i], index = i, logprobs = logProbs >= 0 ? logs[i].Build() : null, finish_reason = reasons[i] }),
                usage = Usage(completion, streams, n),
            }).ExecuteAsync(context);
            return;
        }

        await StartEvents(context);
        if (echo)
            for (int i = 0; i < streams.Length; i++)
                await Event(context, new
                {
                    id, @object = "text_completion", created, model = m.Name,
                    choices = new[] { new { text = prompts[i / n], index = i, logprobs = logProbs >= 0 ? logs[i].Build() : null, finish_reason = (string?)null } },
                });
        bool firstEvent = true;
        await foreach (var (index, token, reason, error) in Merge(streams, aborted))
        {
            if (error is not null) { await Event(context, ErrorBody(error)); return; }
            if (firstEvent && token is not null) { metrics.FirstToken(m.Name, started.Elapsed); firstEvent = false; }
            if (token is { Text.Length: 0 } && logProbs < 0) continue;
            object? lp = null;
            if (token is not null && logProbs >= 0) lp = new LogProbsBuilder(tokenizer).Add(token, token.Text).Build();
            await Event(context, new
            {
                id, @object = "text_completion", created, model = m.Name,
                choices = new[] { new { text = token?.Text ?? "", index, logprobs = lp, finish_reason = reason } },
            });
        }
        int generated = streams.Sum(s => s.CompletionTokens);
        metrics.Generated(m.Name, generated);
        if (includeUsage)
            await Event(context, new { id, @object = "text_completion", created, model = m.Name, choices = System.Array.Empty<object>(), usage = Usage(generated, streams, n) });
        await context.Response.WriteAsync("data: [DONE]\n\n", aborted);
        metrics.Answered("completions", 200);
    }

    /// <summary>Usage as OpenAI counts it: each prompt's tokens once, however many choices it has.</summary>
    static object Usage(int completion, CompletionStream[] streams, int n)
    {
        int prompt = streams.Where((s, i) => i % n == 0).Sum(s => s.PromptIds.Count);
        return new { prompt_tokens = prompt, completion_tokens = completion, total_tokens = prompt + completion };
    }

    static object ErrorBody(Exception e) =>
        new ApiException(500, e is ObjectDisposedException ? "the server is shutting down" : "generation failed: " + e.Message, "server_error").Body;

    static async Task StartEvents(HttpContext context)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await context.Response.StartAsync(context.RequestAborted);
        // Headers go out now, not with the first token: the client knows at once that the request was accepted.
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    static async Task Event(HttpContext context, object data)
    {
        await context.Response.WriteAsync("data: " + JsonSerializer.Serialize(data, Json) + "\n\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    /// <summary>The tokens of several streams as they come: (choice, token, null, null) per token, then
    /// (choice, null, finish reason, null) per stream; a failed stream yields its error and ends the merge.</summary>
    static async IAsyncEnumerable<(int Index, GeneratedToken? Token, string? Reason, Exception? Error)> Merge(CompletionStream[] streams,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var merged = Channel.CreateUnbounded<(int, GeneratedToken?, string?, Exception?)>();
        int open = streams.Length;
        for (int i = 0; i < streams.Length; i++)
        {
            int index = i;
            _ = Task.Run(async () =>
            {
                try
                {
                    await foreach (var t in streams[index].ReadAllAsync(cancellation)) merged.Writer.TryWrite((index, t, null, null));
                    merged.Writer.TryWrite((index, null, await streams[index].FinishReason, null));
                }
                catch (OperationCanceledException) when (cancellation.IsCancellationRequested) { }
                catch (Exception e) { merged.Writer.TryWrite((index, null, null, e)); }
                finally { if (Interlocked.Decrement(ref open) == 0) merged.Writer.TryComplete(); }
            }, CancellationToken.None);
        }
        await foreach (var item in merged.Reader.ReadAllAsync(cancellation))
        {
            yield return item;
            if (item.Item4 is not null) yield break;
        }
    }

    public async Task ChatCompletions(HttpContext context)
    {
        var aborted = context.RequestAborted;
        var r = await ApiRequest.ReadAsync(context.Request, aborted);
        var m = Model(r, "chat");
        var messages = Messages(r);
        if (r.Bool("logprobs", false))
            throw new ApiException(400, "'logprobs' is not supported for chat completions; /v1/completions returns them", param: "logprobs", code: "unsupported_parameter");
        int n = r.Int("n", 1, options.MaxChoices) ?? 1;
        var sampling = Sampling(r, "max_completion_tokens");
        bool stream = r.Bool("stream", false);
        bool includeUsage = r.Object("stream_options") is { } so && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        var chat = new PtmChatClient(m.Scheduler, m.Chat!, m.Name, sampling);
        var request = chat.ToRequest(messages, null);
        using var all = CancellationTokenSource.CreateLinkedTokenSource(aborted);
        using var _ = new CancelOnExit(all);
        var started = Stopwatch.StartNew();
        var streams = Submit(m, Choices([request.Prompt], n, request.Options, r.Has("seed"), -1), all.Token, all);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = Now;
        if (!stream)
        {
            var texts = new string[n];
            var reasons = new string[n];
            for (int i = 0; i < n; i++)
            {
                var text = new System.Text.StringBuilder();
                await foreach (var token in streams[i].ReadAllAsync(aborted))
                {
                    if (i == 0 && text.Length == 0) metrics.FirstToken(m.Name, started.Elapsed);
                    text.Append(token.Text);
                }
                texts[i] = text.ToString();
                reasons[i] = await streams[i].FinishReason;
            }
            metrics.Generated(m.Name, streams.Sum(s => s.CompletionTokens));
            metrics.Answered("chat", 200);
            await Results.Json(new
            {
                id, @object = "chat.completion", created, model = m.Name,
                choices = Enumerable.Range(0, n).Select(i => new
                {
                    index = i, message = new { role = "assistant", content = texts[i] }, logprobs = (object?)null, finish_reason = reasons[i],
                }),
                usage = Usage(streams.Sum(s => s.CompletionTokens), streams, n),
            }).ExecuteAsync(context);
            return;
        }
        await StartEvents(context);
        for (int i = 0; i < n; i++)
            await Event(context, Chunk(id, created, m.Name, i, new { role = "assistant", content = "" }, null));
        bool first = true;
        await foreach (var (index, token, reason, error) in Merge(streams, aborted))
        {
            if (error is not null) { await Event(context, ErrorBody(error)); return; }
            if (token is { Text.Length: 0 }) continue;
            if (first && token is not null) { metrics.FirstToken(m.Name, started.Elapsed); first = false; }
            await Event(context, token is not null
                ? Chunk(id, created, m.Name, index, new { content = token.Text }, null)
                : Chunk(id, created, m.Name, index, new { }, reason));
        }
        int generated = streams.Sum(s => s.CompletionTokens);
        metrics.Generated(m.Name, generated);
        if (includeUsage)
            await Event(context, new { id, @object = "chat.completion.chunk", created, model = m.Name, choices = System.Array.Empty<object>(), usage = Usage(generated, streams, n) });
        await context.Response.WriteAsync("data: [DONE]\n\n", aborted);
        metrics.Answered("chat", 200);
    }

    static object Chunk(string id, long created, string model, int index, object delta, string? reason) => new
    {
        id, @object = "chat.completion.chunk", created, model,
        choices = new[] { new { index, delta, logprobs = (object?)null, finish_reason = reason } },
    };

    static List<Microsoft.Extensions.AI.ChatMessage> Messages(ApiRequest r)
    {
        var array = r.Array("messages") is { } found ? found : throw new ApiException(400, "'messages' is required", param: "messages", code: "missing_field");
        var list = new List<Microsoft.Extensions.AI.ChatMessage>();
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                throw new ApiException(400, "each message must be an object with a string 'role'", param: "messages", code: "invalid_type");
            string text = e.TryGetProperty("content", out var content) ? content.ValueKind switch
            {
                JsonValueKind.String => content.GetString()!,
                JsonValueKind.Array => string.Concat(content.EnumerateArray().Select(part =>
                    part.ValueKind == JsonValueKind.Object && part.TryGetProperty("type", out var t) && t.ValueEquals("text")
                        && part.TryGetProperty("text", out var x) && x.ValueKind == JsonValueKind.String
                        ? x.GetString()
                        : throw new ApiException(400, "message content parts must be {\"type\": \"text\", \"text\": ...}", param: "messages", code: "invalid_type"))),
                JsonValueKind.Null => "",
                _ => throw new ApiException(400, "message 'content' must be a string or an array of text parts", param: "messages", code: "invalid_type"),
            } : "";
            string name = role.GetString()!;
            if (name == "developer") name = "system";
            list.Add(new Microsoft.Extensions.AI.ChatMessage(new Microsoft.Extensions.AI.ChatRole(name), text));
        }
        if (list.Count == 0) throw new ApiException(400, "'messages' must hold at least one message", param: "messages", code: "invalid_value");
        return list;
    }

    async Task<T> Run<T>(ServedModel m, Func<LoadedModel, T> job, CancellationToken cancellation)
    {
        if (!m.Scheduler.TryRun(job, out var task)) throw new ModelOverloadedException(m.Name);
        return await task.WaitAsync(cancellation);
    }

    public async Task Embeddings(HttpContext context)
    {
        var r = await ApiRequest.ReadAsync(context.Request, context.RequestAborted);
        var m = Model(r, "embeddings");
        var input = r.Strings("input", 256) ?? throw new ApiException(400, "'input' is required", param: "input", code: "missing_field");
        if (input.Count == 0) throw new ApiException(400, "'input' must hold at least one text", param: "input", code: "invalid_value");
        string format = r.String("encoding_format") ?? "float";
        if (format is not ("float" or "base64")) throw new ApiException(400, "'encoding_format' must be \"float\" or \"base64\"", param: "encoding_format", code: "invalid_value");
        int dimension = SentenceEmbedding.Dimension(m.Model);
        if (r.Int("dimensions", 1, 1 << 20) is int d && d != dimension)
            throw new ApiException(400, $"'dimensions' must be the model's {dimension} (vectors are not shortened)", param: "dimensions", code: "invalid_value");
        var vectors = await Run(m, model => input.Select(t => SentenceEmbedding.Embed(model, t)).ToArray(), context.RequestAborted);
        int tokens = input.Sum(t => m.Model.Tokenizer.Encode(t).Length);
        metrics.Answered("embeddings", 200);
        await Results.Json(new
        {
            @object = "list",
            data = vectors.Select((v, i) => new
            {
                @object = "embedding", index = i,
                embedding = format == "float" ? (object)v : Convert.ToBase64String(MemoryMarshal.AsBytes(v.AsSpan())),
            }),
            model = m.Name,
            usage = new { prompt_tokens = tokens, total_tokens = tokens },
        }).ExecuteAsync(context);
    }

    public async Task FillMask(HttpContext context)
    {
        var r = await ApiRequest.ReadAsync(context.Request, context.RequestAborted);
        var m = Model(r, "fill-mask");
        var input = r.Strings("input", 64) ?? throw new ApiException(400, "'input' is required", param: "input", code: "missing_field");
        var fill = new FillMaskOptions { TopK = r.Int("top_k", 1, 100) ?? 5 };
        var results = await Run(m, model => input.Select(t => model.FillMask(t, fill)).ToArray(), context.RequestAborted);
        metrics.Answered("fill-mask", 200);
        await Results.Json(new
        {
            @object = "list", model = m.Name,
            data = results.Select((masks, i) => new
            {
                index = i,
                masks = masks.Select(c => c.Select(x => new { token = x.Token, id = x.Id, probability = x.Probability })),
            }),
        }).ExecuteAsync(context);
    }

    public async Task Classify(HttpContext context)
    {
        var r = await ApiRequest.ReadAsync(context.Request, context.RequestAborted);
        var m = Model(r, "classify");
        var input = r.Strings("input", 256) ?? throw new ApiException(400, "'input' is required", param: "input", code: "missing_field");
        var pairs = r.Strings("pair", 256);
        var results = await Run(m, model => model.Classify(input, pairs), context.RequestAborted);
        metrics.Answered("classify", 200);
        await Results.Json(new
        {
            @object = "list", model = m.Name,
            data = results.Select((p, i) => new { index = i, label = p.Label, label_index = p.Index, probabilities = p.Probabilities }),
        }).ExecuteAsync(context);
    }

    public async Task Score(HttpContext context)
    {
        var r = await ApiRequest.ReadAsync(context.Request, context.RequestAborted);
        var m = Model(r, "score");
        string input = r.RequiredString("input");
        bool perToken = r.Bool("logprobs", false);
        var s = await Run(m, model => model.Score(input, "input"), context.RequestAborted);
        metrics.Answered("score", 200);
        await Results.Json(new
        {
            @object = "score", model = m.Name,
            tokens = s.Tokens, bytes = s.Bytes, loss = s.Loss, perplexity = s.Perplexity, bits_per_byte = s.BitsPerByte,
            total_logprob = s.TotalLogProbability,
            token_logprobs = perToken ? s.TokenLogProbabilities.Select(t => new { id = t.Id, token = t.Text, logprob = t.LogProbability }) : null,
        }).ExecuteAsync(context);
    }
}

/// <summary>OpenAI's legacy <c>logprobs</c> object, built token by token.</summary>
sealed class LogProbsBuilder(Ptm.Tokenization.ITokenizer tokenizer)
{
    readonly List<string> tokens = [];
    readonly List<float?> logProbs = [];
    readonly List<Dictionary<string, float>?> top = [];
    readonly List<int> offsets = [];
    int offset;

    public LogProbsBuilder Add(GeneratedToken token, string? shown)
    {
        string text = tokenizer.Decode([token.Id]);
        tokens.Add(text);
        logProbs.Add(float.IsNaN(token.LogProbability) ? null : token.LogProbability);
        Dictionary<string, float>? best = null;
        if (token.Top is { } t)
        {
            best = [];
            foreach (var (id, lp) in t) best.TryAdd(tokenizer.Decode([id]), lp);
        }
        top.Add(best);
        offsets.Add(offset);
        offset += (shown ?? text).Length;
        return this;
    }

    public object Build() => new { tokens, token_logprobs = logProbs, top_logprobs = top, text_offset = offsets };
}
