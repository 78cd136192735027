using System.CommandLine;
using Ptm.Server;

namespace Ptm.Cli.Commands;

/// <summary><c>ptm serve</c>: the model folders behind an OpenAI-compatible HTTP server (docs/serving.md).</summary>
static class ServeCommand
{
    /// <summary>ServerOptions property → the flag that sets it.</summary>
    static readonly Dictionary<string, string> Flags = new()
    {
        [nameof(ServerOptions.Models)] = "--model/--name",
        [nameof(ServerOptions.Host)] = "--host",
        [nameof(ServerOptions.Port)] = "--port",
        [nameof(ServerOptions.ApiKey)] = "--api-key",
        [nameof(ServerOptions.MaxRequestBodyBytes)] = "--max-body-bytes",
        [nameof(ServerOptions.MaxTokens)] = "--max-tokens",
        [nameof(ServerOptions.MaxChoices)] = "--max-choices",
    };

    public static Command Create()
    {
        var model = new Option<string[]>("--model") { Description = "model, Hugging Face or run folder to serve (repeatable)", Required = true, AllowMultipleArgumentsPerToken = false };
        var name = new Option<string[]>("--name") { Description = "name clients use for each --model, in order (default: the folder's name)", AllowMultipleArgumentsPerToken = false };
        var host = new Option<string>("--host") { Description = "address to bind; anything but loopback needs --api-key or --insecure", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port (0 = any free port)", DefaultValueFactory = _ => 8000 };
        var apiKey = new Option<string>("--api-key") { Description = "require 'Authorization: Bearer KEY' on /v1/ and /metrics" };
        var insecure = new Option<bool>("--insecure") { Description = "allow a non-loopback --host without an API key" };
        var maxTokens = new Option<int>("--max-tokens") { Description = "most new tokens one request may ask for", DefaultValueFactory = _ => 1024 };
        var maxChoices = new Option<int>("--max-choices") { Description = "most completions (prompts x n) one request may ask for", DefaultValueFactory = _ => 16 };
        var maxBatch = new Option<int>("--max-batch-size") { Description = "requests decoded together per model", DefaultValueFactory = _ => 16 };
        var maxQueue = new Option<int>("--max-queue") { Description = "requests waiting per model before answering 429", DefaultValueFactory = _ => 64 };
        var maxBody = new Option<long>("--max-body-bytes") { Description = "largest request body", DefaultValueFactory = _ => 1 << 20 };
        var cors = new Option<string[]>("--cors-origin") { Description = "allow browser pages from this origin (repeatable; CORS is off by default)", AllowMultipleArgumentsPerToken = false };
        var threads = CommonOptions.Threads();
        var command = new Command("serve", "Serve models over HTTP: OpenAI-compatible completions, chat and embeddings, a playground at /")
        {
            model, name, host, port, apiKey, insecure, maxTokens, maxChoices, maxBatch, maxQueue, maxBody, cors, threads,
        };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            var paths = r.GetValue(model) ?? [];
            var names = r.GetValue(name) ?? [];
            if (names.Length > paths.Length) throw new InvalidInputException($"{names.Length} --name for {paths.Length} --model; give at most one name per model");
            var options = new ServerOptions
            {
                Models = paths.Select((p, i) => new ServedModelSpec(i < names.Length ? names[i] : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(p))), p)).ToArray(),
                Host = r.GetValue(host)!,
                Port = r.GetValue(port),
                ApiKey = r.GetValue(apiKey),
                Insecure = r.GetValue(insecure),
                MaxTokens = r.GetValue(maxTokens),
                MaxChoices = r.GetValue(maxChoices),
                MaxBatchSize = r.GetValue(maxBatch),
                MaxQueueLength = r.GetValue(maxQueue),
                MaxRequestBodyBytes = r.GetValue(maxBody),
                CorsOrigins = r.GetValue(cors) ?? [],
            };
            PtmServer server;
            try { server = PtmServer.StartAsync(options).GetAwaiter().GetResult(); }
            catch (InvalidOptionException e) when (e.OptionType == nameof(ServerOptions) && Flags.TryGetValue(e.Property, out var flag))
            {
                throw new InvalidInputException(e.MessageFor(flag));
            }
            catch (InvalidOptionException e) when (e.OptionType == nameof(Ptm.Serving.SchedulerOptions))
            {
                throw new InvalidInputException(e.MessageFor(e.Property == nameof(Ptm.Serving.SchedulerOptions.MaxBatchSize) ? "--max-batch-size" : "--max-queue"));
            }
            foreach (var m in server.Models.Values)
                Console.WriteLine($"model     {m.Name}: {m.Model.Description} ({m.Model.Directory}); {string.Join(", ", m.Capabilities)}");
            Console.WriteLine($"listening {server.Address} (playground at {server.Address}, API under {server.Address}v1/); Ctrl-C stops");
            server.WaitForShutdownAsync().GetAwaiter().GetResult();
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        }));
        return command;
    }
}
