using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using OpenTelemetry.Metrics;
using Ptm.Serving;

namespace Ptm.Server;

/// <summary>One model behind the server: its name, the loaded model, its scheduler and its chat template (if any).</summary>
public sealed class ServedModel : IDisposable
{
    internal ServedModel(string name, LoadedModel model, ModelScheduler scheduler, ChatTemplate? chat)
    {
        Name = name;
        Model = model;
        Scheduler = scheduler;
        Chat = chat;
    }

    /// <summary>The name requests use.</summary>
    public string Name { get; }
    /// <summary>The loaded model (owned by this object).</summary>
    public LoadedModel Model { get; }
    /// <summary>The model's continuous-batching scheduler; all its tensor work runs there.</summary>
    public ModelScheduler Scheduler { get; }
    /// <summary>The folder's chat template, or null (then chat completions are refused).</summary>
    public ChatTemplate? Chat { get; }

    /// <summary>What the model can be asked: <c>completions</c>, <c>chat</c>, <c>embeddings</c>, <c>score</c>,
    /// <c>fill-mask</c>, <c>classify</c>.</summary>
    public IReadOnlyList<string> Capabilities =>
        Model.Gpt is not null ? (Chat is not null ? ["completions", "chat", "embeddings", "score"] : ["completions", "embeddings", "score"])
        : Model.Bert is not null ? ["embeddings", "fill-mask"]
        : Model.Labels is not null ? ["classify"] : [];

    /// <summary>Stops the scheduler, then frees the model.</summary>
    public void Dispose()
    {
        Scheduler.Dispose();
        Model.Dispose();
    }
}

/// <summary>
/// <c>ptm serve</c> as a library: an ASP.NET Core (Kestrel, minimal APIs) server over one or more model folders,
/// OpenAI-compatible where OpenAI has the endpoint (<c>/v1/models</c>, <c>/v1/completions</c>,
/// <c>/v1/chat/completions</c>, <c>/v1/embeddings</c>), with Ptm's own <c>/v1/fill-mask</c>, <c>/v1/classify</c>,
/// <c>/v1/score</c>, <c>/health</c>, Prometheus <c>/metrics</c> and a playground page at <c>/</c>. Each model has a
/// <see cref="ModelScheduler"/> (continuous batching; every tensor operation on its thread). A bad request gets a 4xx
/// with an OpenAI-style error object; a full queue gets 429 with <c>Retry-After</c>.
/// </summary>
public sealed class PtmServer : IAsyncDisposable
{
    /// <summary>The name of the meter whose instruments <c>/metrics</c> exports.</summary>
    public const string MeterName = "Ptm.Serving";

    readonly WebApplication app;
    readonly Meter meter;

    PtmServer(WebApplication app, Meter meter, IReadOnlyDictionary<string, ServedModel> models, ServerOptions options)
    {
        this.app = app;
        this.meter = meter;
        Models = models;
        Options = options;
    }

    /// <summary>The models served, by name.</summary>
    public IReadOnlyDictionary<string, ServedModel> Models { get; }

    /// <summary>The settings in force.</summary>
    public ServerOptions Options { get; }

    /// <summary>The base address the server listens on, e.g. <c>http://127.0.0.1:8000</c> (the actual port when 0 was asked).</summary>
    public Uri Address { get; private set; } = null!;

    /// <summary>
    /// Loads the models, starts their schedulers and starts listening. Bad settings or model folders throw
    /// <see cref="InvalidInputException"/> before anything listens; nothing stays loaded after a failure.
    /// </summary>
    public static async Task<PtmServer> StartAsync(ServerOptions options, CancellationToken cancellation = default)
    {
        options.Validate();
        var models = new Dictionary<string, ServedModel>(StringComparer.Ordinal);
        var meter = new Meter(MeterName);
        try
        {
            foreach (var spec in options.Models)
            {
                var loaded = LoadedModel.Load(spec.Path);
                try
                {
                    var chat = loaded.Gpt is not null ? ChatTemplate.Load(loaded.Directory) : null;
                    var scheduler = new ModelScheduler(loaded, new SchedulerOptions { MaxBatchSize = options.MaxBatchSize, MaxQueueLength = options.MaxQueueLength });
                    models[spec.Name] = new ServedModel(spec.Name, loaded, scheduler, chat);
                }
                catch { loaded.Dispose(); throw; }
            }
            var app = Build(options, models, meter);
            var server = new PtmServer(app, meter, models, options);
            await app.StartAsync(cancellation);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            server.Address = new Uri(address.Replace("[::]", "localhost").Replace("0.0.0.0", "127.0.0.1"));
            return server;
        }
        catch
        {
            foreach (var m in models.Values) m.Dispose();
            meter.Dispose();
            throw;
        }
    }

    static WebApplication Build(ServerOptions options, Dictionary<string, ServedModel> models, Meter meter)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            if (options.Host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) k.ListenLocalhost(options.Port);
            else k.Listen(IPAddress.Parse(options.Host), options.Port);
        });
        builder.Services.AddOpenTelemetry().WithMetrics(m => m.AddMeter(MeterName).AddPrometheusExporter());
        if (options.CorsOrigins.Count > 0)
            builder.Services.AddCors(c => c.AddDefaultPolicy(p => p.WithOrigins([.. options.CorsOrigins]).AllowAnyHeader().WithMethods("GET", "POST")));
        var app = builder.Build();
        var metrics = new ServingMetrics(meter, models);
        var api = new Endpoints(models, options, metrics);

        app.Use(async (context, next) =>
        {
            try
            {
                if (options.ApiKey is { } key && (context.Request.Path.StartsWithSegments("/v1") || context.Request.Path.StartsWithSegments("/metrics"))
                    && context.Request.Headers.Authorization.ToString() != "Bearer " + key)
                    throw new ApiException(401, "missing or wrong API key: send 'Authorization: Bearer KEY'", "authentication_error", code: "invalid_api_key");
                if (context.Request.ContentLength > options.MaxRequestBodyBytes) throw TooLarge(options);
                await next(context);
            }
            catch (Exception e) when (!context.Response.HasStarted)
            {
                var error = Translate(e, options, context.RequestAborted);
                if (error is null) return;   // the client went away
                metrics.Refused(error.Status);
                if (error.Status == 429) context.Response.Headers.RetryAfter = "1";
                await Results.Json(error.Body, statusCode: error.Status).ExecuteAsync(context);
            }
        });
        if (options.CorsOrigins.Count > 0) app.UseCors();

        app.MapGet("/", () => Results.Text(Playground.Value, "text/html; charset=utf-8"));
        app.MapGet("/health", () => Results.Json(new
        {
            status = "ok",
            models = models.Values.Select(m => new { id = m.Name, active = m.Scheduler.ActiveRequests, queued = m.Scheduler.QueueLength, decode_steps = m.Scheduler.DecodeSteps }),
        }));
        app.MapPrometheusScrapingEndpoint("/metrics");
        app.MapGet("/v1/models", api.ListModels);
        app.MapPost("/v1/completions", api.Completions);
        app.MapPost("/v1/chat/completions", api.ChatCompletions);
        app.MapPost("/v1/embeddings", api.Embeddings);
        app.MapPost("/v1/fill-mask", api.FillMask);
        app.MapPost("/v1/classify", api.Classify);
        app.MapPost("/v1/score", api.Score);
        app.MapFallback((HttpContext c) => Results.Json(
            new ApiException(404, $"no endpoint {c.Request.Method} {c.Request.Path}", code: "not_found").Body, statusCode: 404));
        return app;
    }

    static ApiException TooLarge(ServerOptions options) =>
        new(413, $"the request body is larger than {options.MaxRequestBodyBytes} bytes", code: "request_too_large");

    /// <summary>The API error for an exception, or null when the request was cancelled by its client.</summary>
    static ApiException? Translate(Exception e, ServerOptions options, CancellationToken aborted) => e switch
    {
        ApiException api => api,
        OperationCanceledException when aborted.IsCancellationRequested => null,
        BadHttpRequestException { StatusCode: 413 } => TooLarge(options),
        BadHttpRequestException bad => new ApiException(bad.StatusCode, bad.Message),
        InvalidOptionException option => new ApiException(400, option.Message, param: option.Property, code: "invalid_value"),
        InvalidInputException input => new ApiException(400, input.Message, code: input.Message.Contains("longer than the context") ? "context_length_exceeded" : "invalid_value"),
        ModelOverloadedException busy => new ApiException(429, busy.Message, "rate_limit_error", code: "overloaded"),
        _ => new ApiException(500, "internal error: " + e.Message, "server_error"),
    };

    static readonly Lazy<string> Playground = new(() =>
    {
        using var stream = typeof(PtmServer).Assembly.GetManifestResourceStream("Ptm.Server.Playground.index.html")!;
        return new StreamReader(stream).ReadToEnd();
    });

    /// <summary>Completes when the host is asked to stop (Ctrl-C, SIGTERM, or <see cref="DisposeAsync"/>).</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellation = default) => app.WaitForShutdownAsync(cancellation);

    /// <summary>Stops listening (open streams end), stops the schedulers and frees the models.</summary>
    public async ValueTask DisposeAsync()
    {
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5))) await app.StopAsync(stop.Token);
        await app.DisposeAsync();
        foreach (var m in Models.Values) m.Dispose();
        meter.Dispose();
    }
}
