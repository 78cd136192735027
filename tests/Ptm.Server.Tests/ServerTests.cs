using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using Ptm.Generation;
using Ptm.Serving;

namespace Ptm.Server.Tests;

[Collection("server")]
public class ServerTests(ServingFixture f)
{
    static readonly string[] Prompts = ["In the beginning", "And God said", "the evening and", "light"];

    GenerationOptions Greedy(int tokens) => new() { Temperature = 0, MaxNewTokens = tokens };

    [Fact]
    public async Task GreedyCompletionsEqualTheLibrarysGenerator()
    {
        var (status, body, _) = await f.Post("/v1/completions", new { model = "gpt", prompt = Prompts, max_tokens = 20, temperature = 0 });
        Assert.Equal(200, status);
        var choices = body.GetProperty("choices").EnumerateArray().ToArray();
        Assert.Equal(Prompts.Length, choices.Length);
        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(f.Reference.Generate(Prompts[i], Greedy(20)), choices[i].GetProperty("text").GetString());
            Assert.Equal(i, choices[i].GetProperty("index").GetInt32());
        }
        var usage = body.GetProperty("usage");
        int prompt = Prompts.Sum(p => f.Reference.Tokenizer.Encode(p).Length);
        Assert.Equal(prompt, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + usage.GetProperty("completion_tokens").GetInt32(), usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
    }

    [Fact]
    public async Task SeededSamplingEqualsTheLibraryAndRepeats()
    {
        var options = new GenerationOptions { Temperature = 0.9, TopP = 0.95, MaxNewTokens = 15, Seed = 77 };
        var (_, a, _) = await f.Post("/v1/completions", new { model = "gpt", prompt = "And God", max_tokens = 15, temperature = 0.9, top_p = 0.95, seed = 77 });
        var (_, b, _) = await f.Post("/v1/completions", new { model = "gpt", prompt = "And God", max_tokens = 15, temperature = 0.9, top_p = 0.95, seed = 77, n = 2 });
        string text = a.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.Equal(f.Reference.Generate("And God", options), text);
        Assert.Equal(text, b.GetProperty("choices")[0].GetProperty("text").GetString());
        // The second choice samples with seed + 1.
        Assert.Equal(f.Reference.Generate("And God", options with { Seed = 78 }), b.GetProperty("choices")[1].GetProperty("text").GetString());
    }

    [Fact]
    public async Task StreamedCompletionConcatenatesToTheSameTextAndEndsWithDone()
    {
        string expected = f.Reference.Generate("In the beginning", Greedy(24));
        var events = await f.Events("/v1/completions", new { model = "gpt", prompt = "In the beginning", max_tokens = 24, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        var text = new StringBuilder();
        string? reason = null;
        foreach (var c in chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0))
        {
            text.Append(c.GetProperty("choices")[0].GetProperty("text").GetString());
            if (c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String) reason = c.GetProperty("choices")[0].GetProperty("finish_reason").GetString();
        }
        Assert.Equal(expected, text.ToString());
        Assert.NotNull(reason);
        Assert.True(chunks.Count > 3, "tokens arrive as separate events");
        Assert.True(chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
    }

    [Fact]
    public async Task StopSequencesEchoAndLogprobs()
    {
        string full = f.Reference.Generate("And God said", Greedy(20));
        string stop = full.Length > 6 ? full.Substring(3, 2) : "zz";
        var (_, stopped, _) = await f.Post("/v1/completions", new { model = "gpt", prompt = "And God said", max_tokens = 20, temperature = 0, stop });
        Assert.Equal(f.Reference.Generate("And God said", Greedy(20) with { Stop = [stop] }), stopped.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal("stop", stopped.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        var (_, echoed, _) = await f.Post("/v1/completions", new { model = "gpt", prompt = "And God said", max_tokens = 5, temperature = 0, echo = true, logprobs = 2 });
        var choice = echoed.GetProperty("choices")[0];
        Assert.Equal("And God said" + f.Reference.Generate("And God said", Greedy(5)), choice.GetProperty("text").GetString());
        var logprobs = choice.GetProperty("logprobs");
        int promptTokens = f.Reference.Tokenizer.Encode("And God said").Length;
        var values = logprobs.GetProperty("token_logprobs").EnumerateArray().ToArray();
        Assert.Equal(promptTokens + echoed.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), values.Length);
        Assert.Equal(values.Length, logprobs.GetProperty("tokens").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, values[0].ValueKind);
        // The prompt's log-probabilities are those of one forward pass over it; a greedy token is the most likely one at its step.
        var prompt = PromptLogProbabilities.Of(f.Reference.Gpt!, f.Reference.Tokenizer, f.Reference.Tokenizer.Encode("And God said"), 2);
        for (int t = 1; t < promptTokens; t++)
        {
            Assert.Equal(prompt[t]!.LogProbability, values[t].GetDouble(), 5);
            Assert.True(values[t].GetDouble() < 0);
        }
        for (int t = promptTokens; t < values.Length; t++)
        {
            var top = logprobs.GetProperty("top_logprobs")[t].EnumerateObject().Select(p => p.Value.GetDouble()).Max();
            Assert.Equal(top, values[t].GetDouble(), 5);
        }
    }

    [Fact]
    public async Task ConcurrentRequestsShareDecodeStepsAndMatchOneAtATime()
    {
        // 60 new tokens slide each row's 48-token window once, at its own step, inside the shared batch.
        var alone = Prompts.Select(p => f.Reference.Generate(p, Greedy(60))).ToArray();
        var scheduler = f.Server.Models["gpt"].Scheduler;
        long before = scheduler.DecodeSteps, tokensBefore = scheduler.GeneratedTokens;
        var answers = await Task.WhenAll(Prompts.Select(p => f.Post("/v1/completions", new { model = "gpt", prompt = p, max_tokens = 60, temperature = 0 })));
        long steps = scheduler.DecodeSteps - before, tokens = scheduler.GeneratedTokens - tokensBefore;
        Assert.Equal(alone, answers.Select(a => a.Body.GetProperty("choices")[0].GetProperty("text").GetString()).ToArray());
        Assert.Equal(answers.Sum(a => a.Body.GetProperty("usage").GetProperty("completion_tokens").GetInt32()), tokens);
        // One at a time would take one step per token; sharing takes fewer steps than the tokens generated.
        Assert.True(steps < tokens, $"{steps} decode steps for {tokens} tokens: requests did not share steps");
    }

    [Fact]
    public async Task OpenAIClientChatsStreamingAndNot()
    {
        var client = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(f.Server.Address, "v1") });
        await ChatAssertions.Check(client.GetChatClient("gpt").AsIChatClient(), f.Reference);
    }

    [Fact]
    public async Task InProcessChatClientPassesTheSameAssertions()
    {
        using var scheduler = new ModelScheduler(f.Reference);
        using var chat = PtmChatClient.Create(scheduler, "gpt");
        var client = chat.AsBuilder().ConfigureOptions(o => o.Temperature ??= 0).Build();
        await ChatAssertions.Check(client, f.Reference);
    }

    [Fact]
    public async Task OpenAIClientEmbeddingsEqualTheLibrarys()
    {
        var client = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(f.Server.Address, "v1") });
        string[] texts = ["Let there be light", "the first day"];
        foreach (var (name, model) in new[] { ("bert", f.ReferenceBert), ("gpt", f.Reference) })
        {
            var expected = texts.Select(t => SentenceEmbedding.Embed(model, t)).ToArray();
            var remote = await client.GetEmbeddingClient(name).AsIEmbeddingGenerator().GenerateAsync(texts);
            using var scheduler = new ModelScheduler(model);
            using var local = new PtmEmbeddingGenerator(scheduler, name);
            var inProcess = await local.GenerateAsync(texts);
            for (int i = 0; i < texts.Length; i++)
            {
                Assert.Equal(expected[i].Length, remote[i].Vector.Length);
                for (int j = 0; j < expected[i].Length; j++)
                {
                    Assert.Equal(expected[i][j], remote[i].Vector.Span[j], 5);
                    Assert.Equal(expected[i][j], inProcess[i].Vector.Span[j], 5);
                }
            }
            Assert.NotEqual(expected[0], expected[1]);
        }
    }

    [Fact]
    public async Task FillMaskClassifyAndScoreEqualTheLibrarys()
    {
        var (s1, fill, _) = await f.Post("/v1/fill-mask", new { model = "bert", input = "Let there be [MASK].", top_k = 3 });
        Assert.Equal(200, s1);
        var expected = f.ReferenceBert.FillMask("Let there be [MASK].", new FillMaskOptions { TopK = 3 });
        var got = fill.GetProperty("data")[0].GetProperty("masks")[0].EnumerateArray().ToArray();
        Assert.Equal(expected[0].Select(c => c.Id), got.Select(c => c.GetProperty("id").GetInt32()));

        var (s2, classes, _) = await f.Post("/v1/classify", new { model = "classifier", input = new[] { "light", "darkness" } });
        Assert.Equal(200, s2);
        using (var classifier = LoadedModel.Load(f.ClassifierDir))
        {
            var labels = classifier.Classify(["light", "darkness"]);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(labels[i].Label, classes.GetProperty("data")[i].GetProperty("label").GetString());
                Assert.Equal(labels[i].Probabilities["light"], classes.GetProperty("data")[i].GetProperty("probabilities").GetProperty("light").GetSingle(), 5);
            }
        }

        var (s3, score, _) = await f.Post("/v1/score", new { model = "gpt", input = "And God said, Let there be light" });
        Assert.Equal(200, s3);
        var reference = f.Reference.Score("And God said, Let there be light");
        Assert.Equal(reference.Loss, score.GetProperty("loss").GetDouble(), 6);
        Assert.Equal(reference.Tokens, score.GetProperty("tokens").GetInt64());
    }

    public static TheoryData<string, string, int, string?> BadRequests => new()
    {
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": ", 400, "invalid_json" },
        { "/v1/completions", "[1, 2]", 400, "invalid_json" },
        { "/v1/completions", "{\"model\": \"nope\", \"prompt\": \"a\"}", 404, "model_not_found" },
        { "/v1/completions", "{\"model\": \"../gpt\", \"prompt\": \"a\"}", 404, "model_not_found" },
        { "/v1/completions", "{\"prompt\": \"a\"}", 400, "missing_field" },
        { "/v1/completions", "{\"model\": \"gpt\"}", 400, "missing_field" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"" + string.Concat(Enumerable.Repeat("light and darkness ", 40)) + "\"}", 400, "context_length_exceeded" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"max_tokens\": 65}", 400, "out_of_range" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"max_tokens\": -1}", 400, "out_of_range" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"max_tokens\": \"ten\"}", 400, "invalid_type" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"temperature\": \"hot\"}", 400, "invalid_type" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": [1, 2]}", 400, "invalid_type" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"top_p\": 0}", 400, "out_of_range" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"n\": 1000}", 400, "out_of_range" },
        { "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"stream\": \"yes\"}", 400, "invalid_type" },
        { "/v1/completions", "{\"model\": \"bert\", \"prompt\": \"a\"}", 400, "unsupported_model" },
        { "/v1/chat/completions", "{\"model\": \"plain\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", 400, "unsupported_model" },
        { "/v1/chat/completions", "{\"model\": \"gpt\", \"messages\": [{\"role\": \"tool\", \"content\": \"hi\"}]}", 400, "invalid_value" },
        { "/v1/chat/completions", "{\"model\": \"gpt\", \"messages\": \"hi\"}", 400, "invalid_type" },
        { "/v1/embeddings", "{\"model\": \"classifier\", \"input\": \"a\"}", 400, "unsupported_model" },
        { "/v1/embeddings", "{\"model\": \"bert\", \"input\": \"a\", \"encoding_format\": \"hex\"}", 400, "invalid_value" },
        { "/v1/fill-mask", "{\"model\": \"bert\", \"input\": \"no mask here\"}", 400, "invalid_value" },
        { "/v1/fill-mask", "{\"model\": \"bert\", \"input\": \"[MASK]\", \"top_k\": 0}", 400, "out_of_range" },
        { "/v1/classify", "{\"model\": \"classifier\", \"input\": \"a\", \"pair\": \"b\"}", 400, "invalid_value" },
        { "/v1/score", "{\"model\": \"gpt\", \"input\": 3}", 400, "invalid_type" },
        { "/v1/nothing", "{}", 404, "not_found" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task BadRequestsGetTheir4xxWithAnOpenAIErrorObject(string path, string json, int status, string? code)
    {
        var (got, body, _) = await ServingFixture.Post(f.Http, path, json);
        Assert.Equal(status, got);
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        Assert.Equal(code, error.GetProperty("code").GetString());
        // The scheduler is alive afterwards.
        var (ok, _, _) = await f.Post("/v1/completions", new { model = "gpt", prompt = "light", max_tokens = 2 });
        Assert.Equal(200, ok);
    }

    [Fact]
    public async Task OversizedBodyGets413()
    {
        // Expect: 100-continue, as clients sending large bodies do: the server refuses on the Content-Length before the
        // body is sent. Without it the 413 races the upload, and a client still writing may see the closed connection.
        string json = "{\"model\": \"gpt\", \"prompt\": \"" + new string('a', 2 << 20) + "\"}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        using var response = await f.Http.SendAsync(request);
        Assert.Equal(413, (int)response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("request_too_large", body.RootElement.GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task FullQueueGets429WithRetryAfter()
    {
        var options = f.Options() with { Models = [new ServedModelSpec("gpt", f.GptDir)], MaxBatchSize = 1, MaxQueueLength = 1 };
        await using var server = await PtmServer.StartAsync(options);
        using var http = new HttpClient { BaseAddress = server.Address };
        // Hold the scheduler's thread with a job, so the next request waits in the (one-place) queue.
        using var release = new ManualResetEventSlim();
        Assert.True(server.Models["gpt"].Scheduler.TryRun(_ => release.Wait(TimeSpan.FromMinutes(1)), out var holding));
        for (int i = 0; i < 200 && server.Models["gpt"].Scheduler.QueueLength > 0; i++) await Task.Delay(10);
        var waiting = ServingFixture.Post(http, "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"light\", \"max_tokens\": 3}");
        for (int i = 0; i < 200 && server.Models["gpt"].Scheduler.QueueLength == 0; i++) await Task.Delay(10);
        var (status, body, response) = await ServingFixture.Post(http, "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"light\", \"max_tokens\": 3}");
        Assert.Equal(429, status);
        Assert.Equal("overloaded", body.GetProperty("error").GetProperty("code").GetString());
        Assert.True(response.Headers.RetryAfter is not null);
        release.Set();
        await holding;
        Assert.Equal(200, (await waiting).Status);
    }

    [Fact]
    public async Task ClientThatDisconnectsMidStreamFreesItsSlot()
    {
        const int tokens = 64;
        await using var server = await PtmServer.StartAsync(f.Options() with { Models = [new ServedModelSpec("plain", f.PlainDir)], MaxTokens = tokens });
        var scheduler = server.Models["plain"].Scheduler;
        // The scheduler runs one queued job per turn of its loop, with a decode step in between: holding it in job A
        // while the request arrives, then in job B, lets exactly one step run (the request's first token).
        using var gateA = new ManualResetEventSlim();
        using var gateB = new ManualResetEventSlim();
        var enteredB = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<bool> holdingB = Task.FromResult(true);
        long at;
        try
        {
            Assert.True(scheduler.TryRun(_ => gateA.Wait(TimeSpan.FromMinutes(2)), out var holdingA));
            // No draining of the unread response on dispose, and the client itself disposed: the connection closes at once.
            using (var http = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, PooledConnectionLifetime = TimeSpan.Zero }) { BaseAddress = server.Address })
            using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                // logprobs: every token is an event, even one whose text is held back.
                Content = new StringContent($"{{\"model\": \"plain\", \"prompt\": \"light\", \"max_tokens\": {tokens}, \"temperature\": 0, \"stream\": true, \"logprobs\": 0}}", Encoding.UTF8, "application/json"),
            })
            using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))   // submitted by now
            {
                Assert.True(scheduler.TryRun(_ => { enteredB.SetResult(); return gateB.Wait(TimeSpan.FromMinutes(2)); }, out holdingB));
                gateA.Set();
                await holdingA;
                await enteredB.Task.WaitAsync(TimeSpan.FromMinutes(1));
                at = scheduler.DecodeSteps;
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                string? first = await reader.ReadLineAsync();
                Assert.StartsWith("data: ", first);
            }   // disposing the response and the client closes the connection mid-stream
            // While the scheduler is held no step can run: the server must notice the disconnect and cancel the request.
            for (int i = 0; i < 3000 && scheduler.CancelledRequests == 0; i++) await Task.Delay(10);
            Assert.Equal(1, scheduler.CancelledRequests);
            Assert.Equal(1, scheduler.ActiveRequests);
            Assert.Equal(at, scheduler.DecodeSteps);
            gateB.Set();
            await holdingB;
            for (int i = 0; i < 3000 && scheduler.ActiveRequests > 0; i++) await Task.Delay(10);
            Assert.Equal(0, scheduler.ActiveRequests);
            Assert.True(scheduler.DecodeSteps <= at + 1, $"{scheduler.DecodeSteps - at} decode steps ran after the disconnect was seen");
            Assert.True(scheduler.GeneratedTokens <= 2, $"{scheduler.GeneratedTokens} of {tokens} tokens generated: the disconnect did not stop the row");
        }
        finally
        {
            // A failed assertion must not leave the scheduler's thread held (the server's disposal waits for it).
            gateA.Set();
            gateB.Set();
        }
    }

    [Fact]
    public async Task ModelsHealthAndMetrics()
    {
        var models = JsonDocument.Parse(await f.Http.GetStringAsync("/v1/models")).RootElement;
        Assert.Equal(new string?[] { "gpt", "plain", "bert", "classifier" }, models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToArray());
        var health = JsonDocument.Parse(await f.Http.GetStringAsync("/health")).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
        await f.Post("/v1/completions", new { model = "gpt", prompt = "light", max_tokens = 3 });
        string metrics = await f.Http.GetStringAsync("/metrics");
        Assert.Contains("ptm_requests", metrics);
        Assert.Contains("ptm_generated_tokens", metrics);
        Assert.Contains("ptm_queue_length", metrics);
        Assert.Contains("ptm_time_to_first_token", metrics);
        string page = await f.Http.GetStringAsync("/");
        Assert.Contains("<title>Ptm playground</title>", page);
        Assert.DoesNotContain("https://", page);   // no CDN
    }

    [Fact]
    public async Task ApiKeyAndBindingRules()
    {
        var open = f.Options() with { Host = "0.0.0.0" };
        Assert.Throws<InvalidOptionException>(() => open.Validate());
        (open with { Insecure = true }).Validate();
        (open with { ApiKey = "k" }).Validate();

        await using var server = await PtmServer.StartAsync(f.Options() with { Models = [new ServedModelSpec("gpt", f.GptDir)], ApiKey = "secret" });
        using var http = new HttpClient { BaseAddress = server.Address };
        var (status, body, _) = await ServingFixture.Post(http, "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"max_tokens\": 1}");
        Assert.Equal(401, status);
        Assert.Equal("invalid_api_key", body.GetProperty("error").GetProperty("code").GetString());
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "secret");
        Assert.Equal(200, (await ServingFixture.Post(http, "/v1/completions", "{\"model\": \"gpt\", \"prompt\": \"a\", \"max_tokens\": 1}")).Status);
        // No CORS unless configured: a preflight gets no Access-Control-Allow-Origin.
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/v1/completions");
        preflight.Headers.Add("Origin", "http://example.test");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        var answer = await http.SendAsync(preflight);
        Assert.False(answer.Headers.Contains("Access-Control-Allow-Origin"));
    }
}

/// <summary>One set of chat assertions, run against the server through the OpenAI client and against the in-process adapter.</summary>
static class ChatAssertions
{
    public static async Task Check(IChatClient client, LoadedModel reference)
    {
        ChatMessage[] messages = [new(ChatRole.System, "Answer briefly."), new(ChatRole.User, "Who made the light?")];
        string prompt = ServingFixture.Template.Render(messages.Select(m => (m.Role.Value, m.Text)));
        var greedy = new GenerationOptions { Temperature = 0, MaxNewTokens = 12, Stop = ServingFixture.Template.Stop };
        string expected = reference.Generate(prompt, greedy);

        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 12 };
        var response = await client.GetResponseAsync(messages, options);
        Assert.Equal(expected, response.Text);
        Assert.NotNull(response.FinishReason);

        var streamed = new StringBuilder();
        int updates = 0;
        await foreach (var update in client.GetStreamingResponseAsync(messages, options))
        {
            streamed.Append(update.Text);
            updates++;
        }
        Assert.Equal(expected, streamed.ToString());
        Assert.True(updates > 2);

        // Sampling options are honoured: a seed repeats, and a stop sequence cuts the reply.
        var sampled = new ChatOptions { Temperature = 1.0f, TopP = 0.9f, Seed = 11, MaxOutputTokens = 10 };
        string a = (await client.GetResponseAsync(messages, sampled)).Text;
        Assert.Equal(reference.Generate(prompt, new GenerationOptions { Temperature = 1.0f, TopP = 0.9f, Seed = 11, MaxNewTokens = 10, Stop = ServingFixture.Template.Stop }), a);
        if (expected.Length > 4)
        {
            string stop = expected.Substring(2, 2);
            var cut = await client.GetResponseAsync(messages, new ChatOptions { Temperature = 0, MaxOutputTokens = 12, StopSequences = [stop] });
            Assert.Equal(expected[..expected.IndexOf(stop, StringComparison.Ordinal)], cut.Text);
        }

        // Cancelling mid-generation ends the stream.
        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync(messages, new ChatOptions { Temperature = 1, MaxOutputTokens = 64 }, cancel.Token))
                cancel.Cancel();
        });
    }
}
