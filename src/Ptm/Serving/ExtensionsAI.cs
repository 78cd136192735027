using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Extensions.AI;
using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Serving;

/// <summary>A <see cref="ModelScheduler"/> refused a request because its queue is full; try again later.</summary>
public sealed class ModelOverloadedException(string model) : Exception($"{model}: the request queue is full; try again later");

/// <summary>
/// Sentence vectors for the models a server can embed with: a BERT's (mean of the last layer over the sentence's own
/// tokens, <see cref="Embeddings.ContextualEmbedder"/>'s default) or a GPT's (mean of the final hidden states, after ln_f, over
/// the text's last <c>n_positions</c> tokens). Runs on the calling thread; a scheduler calls it on its own.
/// </summary>
public static class SentenceEmbedding
{
    /// <summary>The sentence vector of <paramref name="text"/> under <paramref name="model"/>.</summary>
    public static float[] Embed(LoadedModel model, string text)
    {
        if (model.Bert is not null) return model.CreateEmbedder().Embed(text).Sentence;
        if (model.Gpt is Gpt gpt) return MeanPooled(gpt, model.Tokenizer, text);
        throw new InvalidInputException($"{model.Directory}: model_type is \"{model.Family.ModelType}\" ({model.Description}); embeddings need a GPT language model or a BERT with its pre-training heads");
    }

    /// <summary>The dimension of <see cref="Embed"/>'s vectors for <paramref name="model"/>.</summary>
    public static int Dimension(LoadedModel model) =>
        model.Bert?.Config.HiddenSize ?? model.Gpt?.Config.NEmbd ?? 0;

    static float[] MeanPooled(Gpt gpt, ITokenizer tokenizer, string text)
    {
        int[] ids = tokenizer.Encode(text);
        if (ids.Length == 0 && tokenizer.EndOfTextId is int eot) ids = [eot];
        if (ids.Length == 0) throw new InvalidInputException("text to embed is empty and the vocabulary has no <|endoftext|>");
        ids = ids[Math.Max(0, ids.Length - gpt.Config.NPositions)..];
        using var mode = EvalMode.Enter(gpt);
        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], ScalarType.Int64);
        var pooled = gpt.Hidden(input)[0].to(ScalarType.Float32).mean([0]);     // (C)
        return pooled.data<float>().ToArray();
    }
}

/// <summary>
/// <see cref="IChatClient"/> over a GPT served by a <see cref="ModelScheduler"/> and its folder's
/// <see cref="ChatTemplate"/>. <see cref="ChatOptions"/> maps to <see cref="GenerationOptions"/>: Temperature, TopP,
/// TopK, MaxOutputTokens, StopSequences (added to the template's) and Seed; unset ones keep
/// <paramref name="defaults"/>. Cancelling the token stops the generation within one decode step.
/// Each call renders the whole conversation, so the client holds no state between calls.
/// </summary>
public sealed class PtmChatClient(ModelScheduler scheduler, ChatTemplate template, string modelId, GenerationOptions? defaults = null) : IChatClient
{
    readonly GenerationOptions defaults = defaults ?? new GenerationOptions();

    /// <summary>A client over <paramref name="scheduler"/>'s model with the template found in its folder
    /// (<see cref="InvalidInputException"/> when there is none).</summary>
    public static PtmChatClient Create(ModelScheduler scheduler, string? modelId = null, GenerationOptions? defaults = null) =>
        new(scheduler,
            ChatTemplate.Load(scheduler.Model.Directory) ?? throw new InvalidInputException($"{scheduler.Model.Directory}: the model has no chat template ({ChatTemplate.FileName})"),
            modelId ?? Path.GetFileName(scheduler.Model.Directory), defaults);

    /// <summary>The prompt and options a chat call decodes with (public for servers that speak another protocol).</summary>
    public CompletionRequest ToRequest(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        string prompt = template.Render(messages.Select(m => (m.Role.Value, m.Text)));
        var o = defaults;
        if (options is not null)
            o = o with
            {
                Temperature = options.Temperature ?? o.Temperature,
                TopP = options.TopP ?? o.TopP,
                TopK = options.TopK ?? o.TopK,
                MaxNewTokens = options.MaxOutputTokens ?? o.MaxNewTokens,
                Seed = options.Seed ?? o.Seed,
                Stop = [.. o.Stop, .. options.StopSequences ?? []],
            };
        return new CompletionRequest { Prompt = prompt, Options = o with { Stop = [.. template.Stop, .. o.Stop] } };
    }

    /// <inheritdoc />
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        ChatFinishReason? finish = null;
        UsageDetails? usage = null;
        string? id = null;
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            finish = update.FinishReason ?? finish;
            id ??= update.ResponseId;
            foreach (var u in update.Contents.OfType<UsageContent>()) usage = u.Details;
        }
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
        {
            FinishReason = finish, Usage = usage, ModelId = modelId, ResponseId = id, CreatedAt = DateTimeOffset.UtcNow,
        };
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = ToRequest(messages, options);
        // Cancelled however the enumeration ends, so a caller that stops reading early (breaks out of its loop) frees
        // the row at once instead of leaving it to decode to its end.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (!scheduler.TrySubmit(request, stop.Token, out var stream)) throw new ModelOverloadedException(modelId);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        string reason;
        try
        {
            await foreach (var token in stream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                if (token.Text.Length > 0)
                    yield return new ChatResponseUpdate(ChatRole.Assistant, token.Text) { ResponseId = id, ModelId = modelId };
            reason = await stream.FinishReason.ConfigureAwait(false);
        }
        finally { stop.Cancel(); }
        var usage = new UsageDetails
        {
            InputTokenCount = stream.PromptIds.Count, OutputTokenCount = stream.CompletionTokens,
            TotalTokenCount = stream.PromptIds.Count + stream.CompletionTokens,
        };
        yield return new ChatResponseUpdate(ChatRole.Assistant, [new UsageContent(usage)])
        {
            ResponseId = id, ModelId = modelId,
            FinishReason = reason == FinishReasons.Length ? ChatFinishReason.Length : ChatFinishReason.Stop,
        };
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? new ChatClientMetadata("ptm", null, modelId)
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType.IsInstanceOfType(scheduler) ? scheduler
        : null;

    /// <summary>Nothing to free: the scheduler and the model belong to the caller.</summary>
    public void Dispose() { }
}

/// <summary>
/// <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over a BERT or GPT served by a <see cref="ModelScheduler"/>
/// (vectors as <see cref="SentenceEmbedding"/> makes them), computed on the scheduler's thread between decode steps.
/// </summary>
public sealed class PtmEmbeddingGenerator(ModelScheduler scheduler, string? modelId = null) : IEmbeddingGenerator<string, Embedding<float>>
{
    readonly string modelId = modelId ?? Path.GetFileName(scheduler.Model.Directory);

    /// <inheritdoc />
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var texts = values.ToArray();
        if (options?.Dimensions is int d && d != SentenceEmbedding.Dimension(scheduler.Model))
            throw new InvalidInputException($"the model's vectors have {SentenceEmbedding.Dimension(scheduler.Model)} dimensions, not {d}");
        if (!scheduler.TryRun(m =>
            {
                var vectors = new List<float[]>(texts.Length);
                foreach (var t in texts)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    vectors.Add(SentenceEmbedding.Embed(m, t));
                }
                return vectors;
            }, out var job))
            throw new ModelOverloadedException(modelId);
        var result = await job.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new GeneratedEmbeddings<Embedding<float>>(result.Select(v => new Embedding<float>(v) { ModelId = modelId, CreatedAt = DateTimeOffset.UtcNow }));
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(EmbeddingGeneratorMetadata) ? new EmbeddingGeneratorMetadata("ptm", null, modelId, SentenceEmbedding.Dimension(scheduler.Model))
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType.IsInstanceOfType(scheduler) ? scheduler
        : null;

    /// <summary>Nothing to free: the scheduler and the model belong to the caller.</summary>
    public void Dispose() { }
}

/// <summary>Log-probabilities of a prompt's own tokens, for OpenAI's <c>echo</c> with <c>logprobs</c>.</summary>
public static class PromptLogProbabilities
{
    /// <summary>For each token of <paramref name="ids"/> after the first, its log-probability given the tokens before
    /// it and the <paramref name="top"/> most likely tokens there; entry 0 is null (nothing precedes it). The prompt must
    /// fit the context. Runs on the calling thread (a scheduler's, through <see cref="ModelScheduler.TryRun"/>).</summary>
    public static GeneratedToken?[] Of(Gpt gpt, ITokenizer tokenizer, IReadOnlyList<int> ids, int top)
    {
        var result = new GeneratedToken?[ids.Count];
        if (ids.Count < 2) return result;
        using var mode = EvalMode.Enter(gpt);
        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        var input = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Count], ScalarType.Int64);
        var logProbs = gpt.forward(input)[0].to(ScalarType.Float32).log_softmax(-1);   // (T, V)
        for (int t = 1; t < ids.Count; t++)
        {
            var row = logProbs[t - 1];                                                   // (V)
            (int, float)[]? best = null;
            if (top > 0)
            {
                var (values, indices) = row.topk(Math.Min(top, (int)row.shape[0]));
                var v = values.data<float>().ToArray();
                best = indices.data<long>().ToArray().Select((x, i) => ((int)x, v[i])).ToArray();
            }
            result[t] = new GeneratedToken(ids[t], tokenizer.Decode([ids[t]]), row[ids[t]].item<float>(), best);
        }
        return result;
    }
}
