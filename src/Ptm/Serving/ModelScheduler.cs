using System.Collections.Concurrent;
using System.Threading.Channels;
using Ptm.Generation;
using Ptm.Modeling;

namespace Ptm.Serving;

/// <summary>Limits of a <see cref="ModelScheduler"/>: rows decoded together, and requests that may wait for a row.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Most requests decoded in one batch (default 16); more wait in the queue.</summary>
    public int MaxBatchSize { get; init; } = 16;

    /// <summary>Most requests (generations and other jobs) waiting to start (default 64); beyond it submissions are
    /// refused as overloaded.</summary>
    public int MaxQueueLength { get; init; } = 64;

    /// <summary>Most prompt positions encoded in one step for requests joining the batch (default 256), counted as
    /// joining rows times the longest prompt among them. Encoding a prompt holds up the step of every running row, so
    /// the budget bounds that stall; requests beyond it join at the next step. At least one request joins per step
    /// whatever its length.</summary>
    public int MaxPrefillTokens { get; init; } = 256;

    /// <summary>
    /// Prompts of at most this many tokens that join while other requests decode are fed through the batch's decode
    /// steps, one token per step, instead of being encoded in a forward pass of their own (default 16; 0: never).
    /// Feeding costs the joining request one step per prompt token before its first token, and costs the running
    /// requests nothing; a separate forward pass would hold up every running request's step. Longer prompts, and any
    /// prompt when nothing else is decoding, are encoded at once.
    /// </summary>
    public int FeedPromptsUpTo { get; init; } = 16;

    /// <summary>Throws <see cref="InvalidOptionException"/> for a limit below 1 (below 0 for <see cref="FeedPromptsUpTo"/>).</summary>
    public void Validate()
    {
        if (FeedPromptsUpTo < 0) throw new InvalidOptionException(nameof(SchedulerOptions), nameof(FeedPromptsUpTo), "must be at least 0", FeedPromptsUpTo);
        if (MaxPrefillTokens < 1) throw new InvalidOptionException(nameof(SchedulerOptions), nameof(MaxPrefillTokens), "must be at least 1", MaxPrefillTokens);
        if (MaxBatchSize < 1) throw new InvalidOptionException(nameof(SchedulerOptions), nameof(MaxBatchSize), "must be at least 1", MaxBatchSize);
        if (MaxQueueLength < 1) throw new InvalidOptionException(nameof(SchedulerOptions), nameof(MaxQueueLength), "must be at least 1", MaxQueueLength);
    }
}

/// <summary>
/// Where a <see cref="ModelScheduler"/>'s time went since it started, from its own thread's clock: the batched decode
/// forward passes, choosing tokens (argmax, sampling, log-probabilities), encoding joining prompts, copying their keys and
/// values into the batch's slots, moving every window when the batch runs out of columns, and handing tokens to the
/// readers (detokenising, stop strings, channel writes). Requests' time waiting on the thread is not in it.
/// </summary>
/// <param name="DecodeSteps">batched decode steps</param>
/// <param name="DecodeSeconds">forward passes of the decode steps</param>
/// <param name="ChooseSeconds">choosing tokens, in decode steps and after prefills</param>
/// <param name="PrefillSeconds">forward passes over joining prompts (and windows that slid)</param>
/// <param name="PlaceSeconds">copying encoded prompts into their slots</param>
/// <param name="ShiftSeconds">moving every window left (out of columns) or right (a longer prompt joined)</param>
/// <param name="EmitSeconds">turning chosen ids into text and handing them to the streams</param>
/// <param name="Prefills">prefill forward passes</param>
/// <param name="PrefilledRows">rows encoded by them</param>
/// <param name="FedRows">rows whose prompt was fed through the decode steps instead</param>
/// <param name="Shifts">moves of every window</param>
public sealed record SchedulerProfile(long DecodeSteps, double DecodeSeconds, double ChooseSeconds, double PrefillSeconds, double PlaceSeconds,
    double ShiftSeconds, double EmitSeconds, long Prefills, long PrefilledRows, long FedRows, long Shifts);

/// <summary>A request for a continuation, as the scheduler takes it.</summary>
public sealed record CompletionRequest
{
    /// <summary>Text to continue; an empty prompt starts from &lt;|endoftext|&gt; when the vocabulary has it.</summary>
    public required string Prompt { get; init; }

    /// <summary>Sampling settings; <see cref="GenerationOptions.UseCache"/> is ignored (the batch always keeps its cache).</summary>
    public GenerationOptions Options { get; init; } = new();

    /// <summary>-1 (default): no log-probabilities; 0: the chosen token's; n &gt; 0: also the n most likely tokens at each step.</summary>
    public int LogProbs { get; init; } = -1;
}

/// <summary>One generated token: its id, the text it lets through (often empty while bytes or a possible stop string
/// are held back; the pieces concatenate to the continuation), and log-probabilities when asked for.</summary>
/// <param name="Id">the token id</param>
/// <param name="Text">text released by this token</param>
/// <param name="LogProbability">natural log of the token's probability under the model (temperature 1), NaN when not asked for</param>
/// <param name="Top">the most likely tokens at this step with their log-probabilities, when asked for</param>
public sealed record GeneratedToken(int Id, string Text, float LogProbability, IReadOnlyList<(int Id, float LogProbability)>? Top);

/// <summary>Why a continuation ended: <c>stop</c> (a stop string or &lt;|endoftext|&gt;) or <c>length</c> (the token limit).</summary>
public static class FinishReasons
{
    /// <summary>A stop string or the end-of-text token ended it.</summary>
    public const string Stop = "stop";
    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> ended it.</summary>
    public const string Length = "length";
}

/// <summary>
/// A submitted continuation: read its tokens with <see cref="ReadAllAsync"/> as the scheduler produces them. Cancelling
/// the token given at submission frees the request's row within one decode step.
/// </summary>
public sealed class CompletionStream
{
    internal readonly Channel<GeneratedToken> Channel = System.Threading.Channels.Channel.CreateUnbounded<GeneratedToken>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    internal readonly CancellationToken Cancellation;
    internal readonly TokenTextStream Text;
    internal readonly CompletionRequest Request;
    internal BatchRow? Row;
    internal int Generated;
    internal CancellationTokenRegistration Wakeup;
    readonly TaskCompletionSource<string> finish = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal CompletionStream(CompletionRequest request, int[] promptIds, TokenTextStream text, CancellationToken cancellation)
    {
        Request = request;
        PromptIds = promptIds;
        Text = text;
        Cancellation = cancellation;
    }

    /// <summary>The prompt's token ids as the model reads them.</summary>
    public IReadOnlyList<int> PromptIds { get; }

    /// <summary>Tokens generated so far.</summary>
    public int CompletionTokens => Volatile.Read(ref Generated);

    /// <summary>Completes with <see cref="FinishReasons"/>'s value once the continuation ended; cancelled or faulted
    /// like <see cref="ReadAllAsync"/>.</summary>
    public Task<string> FinishReason => finish.Task;

    /// <summary>The scheduler's <see cref="ModelScheduler.DecodeSteps"/> when the last token was chosen, recorded on the
    /// scheduler's thread (0 until then, and for a completion that ended before decoding).</summary>
    public long FinishedAtStep { get; internal set; }

    /// <summary>The generated tokens, in order, as they come; throws <see cref="OperationCanceledException"/> once the
    /// submission's token is cancelled, or the error that stopped the decoding.</summary>
    public IAsyncEnumerable<GeneratedToken> ReadAllAsync(CancellationToken cancellation = default) => Channel.Reader.ReadAllAsync(cancellation);

    internal void Complete(string reason)
    {
        Wakeup.Dispose();
        if (finish.TrySetResult(reason)) Channel.Writer.TryComplete();
    }

    internal void Fail(Exception error)
    {
        Wakeup.Dispose();
        bool set = error is OperationCanceledException ? finish.TrySetCanceled(Cancellation) : finish.TrySetException(error);
        if (set) Channel.Writer.TryComplete(error);
    }
}

/// <summary>
/// Continuous batching for one model: every generation request joins the running decode batch at the next step (a
/// short prompt is fed through the batch's steps, a longer one encoded within <see cref="SchedulerOptions.MaxPrefillTokens"/>
/// per step) and leaves it when it stops (stop string, &lt;|endoftext|&gt;, token limit or cancellation), without
/// waiting for the others; each row keeps one slot of a preallocated cache, so nothing else moves when it comes or goes; between decode steps the scheduler also runs other work on the model (scoring, embeddings, fill-mask,
/// classification) submitted through <see cref="TryRun"/>. All of the model's tensor work happens on the scheduler's
/// own thread, so TorchSharp's thread-static dispose scopes never meet an <c>await</c>. Submissions beyond
/// <see cref="SchedulerOptions.MaxBatchSize"/> rows wait in a queue of <see cref="SchedulerOptions.MaxQueueLength"/>;
/// beyond that they are refused (the methods return false), so a caller can answer "overloaded" at once.
/// <para>Greedy rows give exactly what <see cref="TextGenerator"/> gives for the prompt alone (rows are padded and
/// masked, never mixed); a sampled row draws from its own random stream seeded by its options, so it repeats
/// whatever else is in the batch. The model is borrowed: dispose the scheduler before the model.</para>
/// </summary>
public sealed class ModelScheduler : IDisposable
{
    readonly LoadedModel model;
    readonly SchedulerOptions options;
    readonly ConcurrentQueue<CompletionStream> waiting = new();
    readonly ConcurrentQueue<(Action Run, Action<Exception> Fail)> jobs = new();
    readonly List<CompletionStream> running = [];
    readonly Dictionary<BatchRow, CompletionStream> byRow = [];
    readonly SemaphoreSlim wake = new(0);
    readonly Thread thread;
    readonly DecodeBatch? batch;
    volatile bool stopping;
    int queued;
    long steps, generatedTokens, emitTicks, cancelledRequests;

    /// <summary>Starts the scheduler's thread over <paramref name="model"/> (borrowed; it must outlive the scheduler).</summary>
    public ModelScheduler(LoadedModel model, SchedulerOptions? options = null)
    {
        this.options = options ?? new SchedulerOptions();
        this.options.Validate();
        this.model = model;
        if (model.Gpt is Gpt gpt) batch = new DecodeBatch(gpt, this.options.MaxBatchSize, this.options.MaxPrefillTokens, this.options.FeedPromptsUpTo);
        thread = new Thread(Loop) { IsBackground = true, Name = "ptm-scheduler " + Path.GetFileName(model.Directory) };
        thread.Start();
    }

    /// <summary>The model served.</summary>
    public LoadedModel Model => model;

    /// <summary>The limits in force.</summary>
    public SchedulerOptions Options => options;

    /// <summary>Decode steps run so far (one forward pass each, however many rows it advanced).</summary>
    public long DecodeSteps => Interlocked.Read(ref steps);

    /// <summary>Tokens generated so far over all requests.</summary>
    public long GeneratedTokens => Interlocked.Read(ref generatedTokens);

    /// <summary>Submissions whose cancellation token fired before they finished (clients that went away), counted when
    /// the token fires; the scheduler drops each before its next decode step.</summary>
    public long CancelledRequests => Interlocked.Read(ref cancelledRequests);

    /// <summary>Where the scheduler's time went so far (a snapshot; the counters move while requests run).</summary>
    public SchedulerProfile Profile
    {
        get
        {
            static double S(long ticks) => (double)ticks / System.Diagnostics.Stopwatch.Frequency;
            var t = batch?.Timings ?? new BatchTimings();
            return new SchedulerProfile(DecodeSteps, S(t.DecodeTicks), S(t.ChooseTicks), S(t.PrefillTicks), S(t.PlaceTicks), S(t.ShiftTicks),
                S(Interlocked.Read(ref emitTicks)), t.Prefills, t.PrefilledRows, t.FedRows, t.Shifts);
        }
    }

    /// <summary>Requests and jobs waiting to start.</summary>
    public int QueueLength => Volatile.Read(ref queued);

    /// <summary>Requests being decoded now.</summary>
    public int ActiveRequests { get; private set; }

    /// <summary>
    /// Submits a continuation. Checks the request at once (on the caller's thread) and throws
    /// <see cref="InvalidInputException"/> for a bad one (options out of range, a prompt that leaves no room in the
    /// context); returns false, without queueing anything, when the queue is full. Cancelling
    /// <paramref name="cancellation"/> ends the stream and frees its row within one decode step.
    /// </summary>
    public bool TrySubmit(CompletionRequest request, CancellationToken cancellation, out CompletionStream stream)
    {
        ObjectDisposedException.ThrowIf(stopping, this);
        var gpt = model.Gpt ?? throw new InvalidInputException($"{model.Directory}: model_type is \"{model.Family.ModelType}\" ({model.Description}); generation needs a GPT language model");
        request.Options.Validate();
        if (request.LogProbs < -1) throw new InvalidOptionException(nameof(CompletionRequest), nameof(CompletionRequest.LogProbs), "must be -1 (none) or >= 0", request.LogProbs);
        int[] ids = EncodePrompt(request.Prompt, gpt);
        stream = new CompletionStream(request, ids, new TokenTextStream(model.Tokenizer, request.Options.Stop), cancellation);
        if (!TryEnqueue()) return false;
        // A cancelled request waiting in the queue is dropped at once, not when the scheduler next wakes.
        if (cancellation.CanBeCanceled) stream.Wakeup = cancellation.Register(() =>
        {
            Interlocked.Increment(ref cancelledRequests);
            Wake();
        });
        waiting.Enqueue(stream);
        wake.Release();
        return true;
    }

    /// <summary>
    /// Runs <paramref name="job"/> on the scheduler's thread between decode steps (for scoring, embeddings, fill-mask,
    /// classification: anything that runs the model). Returns false when the queue is full; otherwise
    /// <paramref name="result"/> completes with the job's value or exception.
    /// </summary>
    public bool TryRun<T>(Func<LoadedModel, T> job, out Task<T> result)
    {
        ObjectDisposedException.ThrowIf(stopping, this);
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        result = done.Task;
        if (!TryEnqueue()) return false;
        jobs.Enqueue((() =>
        {
            try { done.SetResult(job(model)); }
            catch (Exception e) { done.SetException(e); }
        }, e => done.TrySetException(e)));
        wake.Release();
        return true;
    }

    void Wake()
    {
        try { wake.Release(); }
        catch (ObjectDisposedException) { }
    }

    bool TryEnqueue()
    {
        while (true)
        {
            int now = Volatile.Read(ref queued);
            if (now >= options.MaxQueueLength) return false;
            if (Interlocked.CompareExchange(ref queued, now + 1, now) == now) return true;
        }
    }

    int[] EncodePrompt(string prompt, Gpt gpt)
    {
        int[] ids = model.Tokenizer.Encode(prompt);
        if (ids.Length == 0 && model.Tokenizer.EndOfTextId is int eot) ids = [eot];
        int context = gpt.Config.NPositions;
        if (ids.Length == 0) throw new InvalidInputException("prompt is empty and the vocabulary has no <|endoftext|> to start from; give at least one token");
        if (ids.Length >= context)
            throw new InvalidInputException($"prompt is {ids.Length} tokens, longer than the context allows (n_positions = {context}, leaving no room to generate)");
        return ids;
    }

    void Loop()
    {
        while (!stopping)
        {
            try
            {
                if (jobs.TryDequeue(out var job))
                {
                    Interlocked.Decrement(ref queued);
                    job.Run();
                }
                Admit();
                DropCancelled();
                if (running.Count > 0) Decode();
                // Idle for a second: give the batch's buffers back (a busy server keeps them from request to request).
                if (running.Count == 0 && jobs.IsEmpty && waiting.IsEmpty && !wake.Wait(1000) && batch is { Empty: true }) batch.Release();
            }
            catch (Exception e)
            {
                // A failed step fails the requests in it, never the scheduler: start again from an empty batch.
                foreach (var s in running) s.Fail(e);
                running.Clear();
                byRow.Clear();
                batch?.Clear();
                ActiveRequests = 0;
            }
        }
    }

    void Admit()
    {
        while (running.Count < options.MaxBatchSize && waiting.TryDequeue(out var stream))
        {
            Interlocked.Decrement(ref queued);
            if (stream.Cancellation.IsCancellationRequested) { stream.Fail(new OperationCanceledException(stream.Cancellation)); continue; }
            if (stream.Request.Options.MaxNewTokens == 0) { stream.Complete(FinishReasons.Length); continue; }
            stream.Row = new BatchRow(stream.PromptIds.ToArray(), stream.Request.Options, stream.Request.LogProbs);
            batch!.Join(stream.Row);
            running.Add(stream);
            byRow[stream.Row] = stream;
        }
        ActiveRequests = running.Count;
    }

    void DropCancelled()
    {
        for (int i = running.Count - 1; i >= 0; i--)
            if (running[i].Cancellation.IsCancellationRequested)
            {
                var s = running[i];
                running.RemoveAt(i);
                byRow.Remove(s.Row!);
                batch!.Leave(s.Row!);
                s.Fail(new OperationCanceledException(s.Cancellation));
            }
        ActiveRequests = running.Count;
    }

    void Decode()
    {
        var chosen = batch!.Step();
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        Interlocked.Increment(ref steps);
        Interlocked.Add(ref generatedTokens, chosen.Count);
        foreach (var (row, choice) in chosen)
        {
            var s = byRow[row];
            s.Generated++;
            string text = s.Text.Push(choice.Id);
            bool last = s.Text.Finished || s.Generated >= s.Request.Options.MaxNewTokens;
            string reason = s.Text.Finished ? FinishReasons.Stop : FinishReasons.Length;
            if (last) text += s.Text.Finish();
            s.Channel.Writer.TryWrite(new GeneratedToken(choice.Id, text, choice.LogProbability, choice.Top));
            if (last)
            {
                running.Remove(s);
                byRow.Remove(row);
                batch.Leave(row);
                s.FinishedAtStep = Interlocked.Read(ref steps);
                s.Complete(reason);
            }
        }
        ActiveRequests = running.Count;
        Interlocked.Add(ref emitTicks, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
    }

    /// <summary>Stops the thread; requests still waiting or running end with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (stopping) return;
        stopping = true;
        wake.Release();
        thread.Join();
        var gone = new ObjectDisposedException(nameof(ModelScheduler));
        foreach (var s in running) s.Fail(gone);
        while (waiting.TryDequeue(out var s)) s.Fail(gone);
        while (jobs.TryDequeue(out var job)) job.Fail(gone);
        batch?.Dispose();
        wake.Dispose();
    }
}
