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
        long stepsWhenShortEnded = scheduler.DecodeSteps;
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
