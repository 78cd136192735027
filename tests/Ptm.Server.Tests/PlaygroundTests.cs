using Microsoft.Playwright;

namespace Ptm.Server.Tests;

/// <summary>The playground page in a real headless Chromium (Debian's; never a downloaded one).</summary>
[Collection("server")]
public class PlaygroundTests(ServingFixture f)
{
    const string Chromium = "/usr/bin/chromium";

    [SkippableFact]
    public async Task TypeAPromptSeeTokensStreamInAndStopIt()
    {
        Skip.IfNot(File.Exists(Chromium), $"no Chromium at {Chromium} (Debian package 'chromium'); the test never downloads a browser");
        const int tokens = 2048;
        await using var server = await PtmServer.StartAsync(f.Options() with { Models = [new ServedModelSpec("plain", f.PlainDir)], MaxTokens = tokens });
        var scheduler = server.Models["plain"].Scheduler;
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
        var page = await browser.NewPageAsync();
        await page.GotoAsync(server.Address.ToString());
        await Assertions.Expect(page.Locator("#model option")).ToHaveCountAsync(1);
        await page.FillAsync("#prompt", "light");
        // Greedy and long (the disconnect test checks this prompt runs all its tokens), so Stop lands mid-stream.
        await page.EvalOnSelectorAsync("#temperature", "e => { e.value = '0'; }");
        await page.EvalOnSelectorAsync("#max_tokens", $"e => {{ e.max = '{tokens}'; e.value = '{tokens}'; }}");
        // Decoding slowed to ~10 ms a step, so Stop lands mid-stream.
        using var stopThrottle = new CancellationTokenSource();
        var throttle = ServingFixture.Throttle(scheduler, stopThrottle.Token);
        await page.ClickAsync("#run");
        await Assertions.Expect(page.Locator("#generated")).Not.ToBeEmptyAsync();
        await page.ClickAsync("#stop");
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("stopped");
        string shown = await page.InnerTextAsync("#generated");
        Assert.NotEmpty(shown);
        for (int i = 0; i < 1000 && scheduler.ActiveRequests > 0; i++) await Task.Delay(10);
        stopThrottle.Cancel();
        await throttle;
        Assert.Equal(0, scheduler.ActiveRequests);
        Assert.True(scheduler.GeneratedTokens < tokens, $"{scheduler.GeneratedTokens} of {tokens} tokens generated: Stop did not end the request");
        // What streamed in is the start of the library's greedy continuation.
        string expected = f.Reference.Generate("light", new Ptm.Generation.GenerationOptions { Temperature = 0, MaxNewTokens = 200 });
        Assert.StartsWith(shown[..Math.Min(shown.Length, expected.Length)], expected);
        Assert.True(await page.IsEnabledAsync("#run"));
    }
}
