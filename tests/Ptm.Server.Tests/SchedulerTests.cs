using Microsoft.Extensions.AI;
using Ptm.Generation;
using Ptm.Serving;

namespace Ptm.Server.Tests;

[Collection("server")]
public class SchedulerTests(ServingFixture f)
{
    static CompletionRequest Request(string prompt, int tokens, double temperature = 0, long seed = 1337) =>
        new() { Prompt = prompt, Options = new GenerationOptions { Temperature = temperature, MaxNewTokens = tokens, Seed = seed } };

    static async Task<string> ReadAll(CompletionStream stream, CancellationToken cancellation = default)
    {
        var text = new System.Text.StringBuilder();
        await foreach (var token in stream.ReadAllAsync(cancellation)) text.Append(token.Text);
        return text.ToString();
    }

    [Fact]
    public async Task ARequestJoinsARunningBatchAndLeavesWithoutWaiting()
    {
        using var scheduler = new ModelScheduler(f.Reference);
        using var stopThrottle = new CancellationTokenSource();
        var throttle = ServingFixture.Throttle(scheduler, stopThrottle.Token);   // so the short request surely joins mid-run
        // A long sampled request (checked to run all its tokens) and a short greedy one that joins while it runs.
        Assert.True(scheduler.TrySubmit(Request("light", 48, temperature: 1, seed: 3), default, out var longRun));
        var longText = ReadAll(longRun);
        for (int i = 0; i < 1000 && scheduler.DecodeSteps < 3; i++) await Task.Delay(5);
        Assert.True(scheduler.TrySubmit(Request("And God said", 6), default, out var shortRun));
        string shortText = await ReadAll(shortRun);
        long stepsWhenShortEnded = shortRun.FinishedAtStep;   // read on the scheduler's thread, not when this test resumes
        await longText;
        stopThrottle.Cancel();
        await throttle;
        Assert.Equal(f.Reference.Generate("And God said", new GenerationOptions { Temperature = 0, MaxNewTokens = 6 }), shortText);
        Assert.Equal(f.Reference.Generate("light", new GenerationOptions { Temperature = 1, Seed = 3, MaxNewTokens = 48 }), await longText);
        Assert.Equal(48, longRun.CompletionTokens);
        // The short request ended while the long one still had steps to go.
        Assert.True(stepsWhenShortEnded < scheduler.DecodeSteps, $"short request ended at step {stepsWhenShortEnded} of {scheduler.DecodeSteps}");
        Assert.True(scheduler.DecodeSteps < 48 + 6, "the two requests shared decode steps");
    }

    /// <summary>
    /// Rows that join a running batch (short prompts fed through the steps, a long one encoded and copied into its slot),
    /// leave it, reuse freed slots, and slide their windows past the 48-token context, each give exactly the lone
    /// generator's greedy text; the profile shows every mechanism ran.
    /// </summary>
    [Fact]
    public async Task SlotsJoinLeaveReuseAndSlideGivingTheLoneText()
    {
        using var scheduler = new ModelScheduler(f.Reference, new SchedulerOptions { MaxBatchSize = 3, FeedPromptsUpTo = 6 });
        using var stopThrottle = new CancellationTokenSource();
        var throttle = ServingFixture.Throttle(scheduler, stopThrottle.Token);   // so later requests surely join mid-run
        string longPrompt = "And the evening and the morning were the first day. And God said";
        var requests = new (string Prompt, int Tokens)[]
        {
            ("light", 70),            // slides twice (its window outgrows 48 tokens)
            ("And God said", 5),      // fed: joins mid-run, leaves early
            ("the evening and", 9),   // waits for a free slot, reuses one
            (longPrompt, 12),         // longer than FeedPromptsUpTo: encoded on its own, copied into a slot
            ("In the beginning", 30),
        };
        Assert.True(f.Reference.Tokenizer.Encode(longPrompt).Length > 6);
        var texts = new List<Task<string>>();
        foreach (var (prompt, tokens) in requests)
        {
            Assert.True(scheduler.TrySubmit(Request(prompt, tokens), default, out var stream));
            texts.Add(ReadAll(stream));
            long at = scheduler.DecodeSteps;
            for (int i = 0; i < 1000 && scheduler.DecodeSteps < at + 2; i++) await Task.Delay(5);
        }
        var results = await Task.WhenAll(texts);
        stopThrottle.Cancel();
        await throttle;
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(f.Reference.Generate(requests[i].Prompt, new GenerationOptions { Temperature = 0, MaxNewTokens = requests[i].Tokens }), results[i]);
        var profile = scheduler.Profile;
        Assert.True(profile.FedRows >= 1, $"no prompt was fed: {profile}");
        Assert.True(profile.PrefilledRows >= 3, $"{profile}");   // the first row, the long prompt, the slides
        Assert.True(profile.Shifts >= 1, $"{profile}");
        Assert.True(profile.DecodeSteps < requests.Sum(r => r.Tokens), $"{profile.DecodeSteps} steps: the rows did not share steps");
    }

    /// <summary>A burst of joining rows beyond the prefill budget is encoded over several steps, and each row still
    /// gives the lone text.</summary>
    [Fact]
    public async Task ThePrefillBudgetSpreadsABurstOverSteps()
    {
        using var scheduler = new ModelScheduler(f.Reference, new SchedulerOptions { MaxPrefillTokens = 4, FeedPromptsUpTo = 0 });
        using var release = new ManualResetEventSlim();
        Assert.True(scheduler.TryRun(_ => release.Wait(TimeSpan.FromMinutes(1)), out var holding));   // the burst lands at once
        var prompts = new[] { "light", "And God said", "the evening and", "In the beginning" };
        var streams = prompts.Select(p => { Assert.True(scheduler.TrySubmit(Request(p, 4), default, out var s)); return s; }).ToArray();
        release.Set();
        await holding;
        var texts = await Task.WhenAll(streams.Select(s => ReadAll(s)));
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(f.Reference.Generate(prompts[i], new GenerationOptions { Temperature = 0, MaxNewTokens = 4 }), texts[i]);
        var profile = scheduler.Profile;
        Assert.Equal(prompts.Length, profile.PrefilledRows);
        Assert.True(profile.Prefills >= 3, $"{profile}: the budget of 4 prompt positions lets only one multi-token prompt in per step");
    }

    [Fact]
    public async Task CancellationFreesTheRowWithinOneDecodeStep()
    {
        using var scheduler = new ModelScheduler(f.Reference);
        using var stopThrottle = new CancellationTokenSource();
        var throttle = ServingFixture.Throttle(scheduler, stopThrottle.Token);   // so the cancellation surely lands mid-run
        using var cancel = new CancellationTokenSource();
        Assert.True(scheduler.TrySubmit(Request("light", 64, temperature: 1, seed: 3), cancel.Token, out var stream));
        await using var tokens = stream.ReadAllAsync().GetAsyncEnumerator();
        for (int i = 0; i < 3; i++) Assert.True(await tokens.MoveNextAsync());
        long at = scheduler.DecodeSteps;
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stream.FinishReason);
        for (int i = 0; i < 500 && scheduler.ActiveRequests > 0; i++) await Task.Delay(5);
        Assert.Equal(0, scheduler.ActiveRequests);
        Assert.True(scheduler.DecodeSteps <= at + 1, $"{scheduler.DecodeSteps - at} steps ran after the cancellation");
        stopThrottle.Cancel();
        await throttle;
        // The scheduler goes on serving.
        Assert.True(scheduler.TrySubmit(Request("light", 3), default, out var next));
        Assert.Equal(f.Reference.Generate("light", new GenerationOptions { Temperature = 0, MaxNewTokens = 3 }), await ReadAll(next));
    }

    /// <summary>An in-process chat stream that its caller stops reading (breaks out of the loop, never cancelling a
    /// token) frees its row: leaving the enumeration cancels the request.</summary>
    [Fact]
    public async Task AChatStreamLeftEarlyFreesItsRow()
    {
        const int tokens = 1000;
        using var scheduler = new ModelScheduler(f.Reference);
        using var stopThrottle = new CancellationTokenSource();
        var throttle = ServingFixture.Throttle(scheduler, stopThrottle.Token);   // 10 ms a step: the row cannot end first
        using var chat = PtmChatClient.Create(scheduler, "gpt");
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = tokens };
        await foreach (var update in chat.GetStreamingResponseAsync([new ChatMessage(ChatRole.User, "light")], options))
            if (update.Text.Length > 0) break;
        Assert.Equal(1, scheduler.CancelledRequests);                             // at once, when the loop left
        for (int i = 0; i < 1000 && scheduler.ActiveRequests > 0; i++) await Task.Delay(5);
        Assert.Equal(0, scheduler.ActiveRequests);
        Assert.True(scheduler.GeneratedTokens < tokens, $"{scheduler.GeneratedTokens} tokens generated");
        stopThrottle.Cancel();
        await throttle;
    }

    [Fact]
    public async Task AFullQueueIsRefusedExplicitly()
    {
        using var scheduler = new ModelScheduler(f.Reference, new SchedulerOptions { MaxBatchSize = 1, MaxQueueLength = 2 });
        using var release = new ManualResetEventSlim();
        Assert.True(scheduler.TryRun(_ => release.Wait(TimeSpan.FromMinutes(1)), out var holding));
        for (int i = 0; i < 500 && scheduler.QueueLength > 0; i++) await Task.Delay(5);
        Assert.True(scheduler.TrySubmit(Request("light", 2), default, out var a));
        Assert.True(scheduler.TryRun(m => m.Description, out var b));
        Assert.False(scheduler.TrySubmit(Request("light", 2), default, out _));
        Assert.False(scheduler.TryRun(m => m.Description, out _));
        Assert.Equal(2, scheduler.QueueLength);
        release.Set();
        await holding;
        await ReadAll(a);
        Assert.True(a.CompletionTokens >= 1);
        Assert.Equal("gpt2, language model", await b);
    }

    [Fact]
    public void BadRequestsAreRefusedOnTheCallersThread()
    {
        using var scheduler = new ModelScheduler(f.Reference);
        Assert.Throws<InvalidOptionException>(() => scheduler.TrySubmit(Request("light", 2, temperature: -1), default, out _));
        Assert.Throws<InvalidInputException>(() => scheduler.TrySubmit(Request(string.Concat(Enumerable.Repeat("light and darkness ", 40)), 2), default, out _));
        using var bert = new ModelScheduler(f.ReferenceBert);
        Assert.Throws<InvalidInputException>(() => bert.TrySubmit(Request("light", 2), default, out _));
        Assert.Equal(0, scheduler.QueueLength);
    }

    [Fact]
    public void ChatTemplateRendersAndRoundTrips()
    {
        string dir = Path.Combine(f.Root, "template-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        ServingFixture.Template.Save(dir);
        var loaded = ChatTemplate.Load(dir)!;
        Assert.Equal("Be brief.\nQ: hi\nA: hello\nQ: who?\nA:", loaded.Render([("system", "Be brief."), ("user", "hi"), ("assistant", "hello"), ("user", "who?")]));
        Assert.Equal(["\nQ:"], loaded.Stop);
        File.WriteAllText(Path.Combine(dir, ChatTemplate.FileName), "{\"user\": \"no slot\", \"assistant\": \"{content}\", \"generation_prompt\": \"\"}");
        var e = Assert.Throws<InvalidInputException>(() => ChatTemplate.Load(dir));
        Assert.Contains("\"user\" must contain {content}", e.Message);
        File.WriteAllText(Path.Combine(dir, ChatTemplate.FileName), "{\"user\": \"{content}\", \"assistant\": \"{content}\", \"generation_prompt\": \"\", \"file\": \"/etc/passwd\"}");
        Assert.Contains("unknown field \"file\"", Assert.Throws<InvalidInputException>(() => ChatTemplate.Load(dir)).Message);
        Assert.Null(ChatTemplate.Load(f.PlainDir));
    }
}
