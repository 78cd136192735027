using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Serving;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Server.Tests;

/// <summary>
/// Tiny model folders written from the library (random weights: the serving plumbing is under test) and one server over
/// them on 127.0.0.1 with a free port: "gpt" (byte-level BPE, with a chat template), "plain" (the same GPT without one),
/// "bert" (WordPiece, pre-training heads) and "classifier" (a BERT with an untrained classify head). The GPT's weights
/// are drawn wide (initializer range 0.5) so its greedy choices are decided by wide margins, and a padded batch picks
/// exactly what a lone row picks. <see cref="Reference"/> is a second, independent load of the GPT for the library's
/// own answers.
/// </summary>
public sealed class ServingFixture : IAsyncLifetime
{
    public static readonly string[] Corpus =
    [
        "In the beginning God created the heaven and the earth.",
        "And God said, Let there be light: and there was light.",
        "And the evening and the morning were the first day.",
        "And the darkness he called Night.",
    ];

    public static readonly ChatTemplate Template = new("{content}\n", "Q: {content}\n", "A: {content}\n", "A:", ["\nQ:"]);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ptm-serve-" + Guid.NewGuid().ToString("N"));
    public string GptDir => Path.Combine(Root, "gpt");
    public string PlainDir => Path.Combine(Root, "plain");
    public string BertDir => Path.Combine(Root, "bert");
    public string ClassifierDir => Path.Combine(Root, "classifier");

    public PtmServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;
    public LoadedModel Reference { get; private set; } = null!;
    public LoadedModel ReferenceBert { get; private set; } = null!;

    public static void WriteModels(string gptDir, string plainDir, string bertDir, string classifierDir)
    {
        Directory.CreateDirectory(gptDir);
        Directory.CreateDirectory(plainDir);
        Directory.CreateDirectory(bertDir);
        manual_seed(21);
        var bpe = ByteLevelBpeTokenizer.Train(Corpus, 300, [ByteLevelBpeTokenizer.EndOfText]);
        using (var gpt = new Gpt(new GptConfig { VocabSize = bpe.VocabSize, NPositions = 48, NEmbd = 16, NLayer = 2, NHead = 2, InitializerRange = 0.5 }))
        {
            ModelFolder.SaveModel(gptDir, gpt, bpe);
            ModelFolder.SaveModel(plainDir, gpt, bpe);
        }
        Template.Save(gptDir);
        var wp = WordPieceTokenizer.Train(Corpus, 100);
        using (var bert = new BertForPreTraining(new BertConfig
        {
            VocabSize = wp.VocabSize, HiddenSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 48,
        }))
            ModelFolder.SaveModel(bertDir, bert, wp);
        using var ft = FineTuneModel.FromPretrained(bertDir, FineTuneTask.Classify, new LabelMap(["dark", "light"]), new HeadOptions(Seed: 5));
        ft.Save(classifierDir);
    }

    public async Task InitializeAsync()
    {
        WriteModels(GptDir, PlainDir, BertDir, ClassifierDir);
        Server = await PtmServer.StartAsync(Options());
        Http = new HttpClient { BaseAddress = Server.Address, Timeout = TimeSpan.FromMinutes(2) };
        Reference = LoadedModel.Load(GptDir);
        ReferenceBert = LoadedModel.Load(BertDir);
    }

    public ServerOptions Options() => new()
    {
        Port = 0,
        MaxTokens = 64,
        Models =
        [
            new ServedModelSpec("gpt", GptDir), new ServedModelSpec("plain", PlainDir),
            new ServedModelSpec("bert", BertDir), new ServedModelSpec("classifier", ClassifierDir),
        ],
    };

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Reference.Dispose();
        ReferenceBert.Dispose();
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }

    /// <summary>
    /// Slows <paramref name="scheduler"/>'s decoding to one step per 10 ms or more until <paramref name="stop"/> is
    /// cancelled: a 10 ms sleep job is queued, and the next one only once it has finished, so the scheduler (which runs
    /// queued jobs between decode steps) always gets to take a step in between. The scheduler does not wait for
    /// readers, so without it a tiny model finishes long before a client can react.
    /// </summary>
    public static Task Throttle(ModelScheduler scheduler, CancellationToken stop) => Task.Run(async () =>
    {
        while (!stop.IsCancellationRequested)
        {
            if (scheduler.TryRun(_ => { Thread.Sleep(10); return 0; }, out var job)) await job;
            else await Task.Delay(1);
        }
    });

    /// <summary>POSTs <paramref name="json"/> and returns the status and the parsed body.</summary>
    public static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Post(HttpClient http, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        var response = await http.PostAsync(path, content);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    public Task<(int Status, JsonElement Body, HttpResponseMessage Response)> Post(string path, object body) =>
        Post(Http, path, JsonSerializer.Serialize(body));

    /// <summary>The data lines of a server-sent-event stream, in order ("[DONE]" included).</summary>
    public async Task<List<string>> Events(string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
            if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add(line["data: ".Length..]);
        return events;
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServingFixture>;
