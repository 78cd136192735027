using System.Net;
using Ptm.Generation;

namespace Ptm.Server;

/// <summary>A model folder to serve under a name (the <c>model</c> field of requests; never a path).</summary>
/// <param name="Name">the name clients use; letters, digits and <c>-_.:</c></param>
/// <param name="Path">a model, Hugging Face or run folder, as <see cref="LoadedModel.Load"/> takes</param>
public sealed record ServedModelSpec(string Name, string Path);

/// <summary>
/// What <see cref="PtmServer"/> serves and how. The defaults are safe on a shared machine: loopback only, no CORS,
/// bodies up to 1 MiB, at most 1024 new tokens per request. Binding any other address needs <see cref="ApiKey"/>
/// (clients send <c>Authorization: Bearer KEY</c>) or an explicit <see cref="Insecure"/>.
/// </summary>
public sealed record ServerOptions
{
    /// <summary>The models, by name (at least one; names unique).</summary>
    public IReadOnlyList<ServedModelSpec> Models { get; init; } = [];
    /// <summary>Address to bind (default 127.0.0.1); <c>localhost</c> binds the loopback addresses.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>Port (default 8000); 0 picks a free one (see <see cref="PtmServer.Address"/>).</summary>
    public int Port { get; init; } = 8000;
    /// <summary>When set, every <c>/v1/</c> and <c>/metrics</c> request must carry <c>Authorization: Bearer</c> this key.</summary>
    public string? ApiKey { get; init; }
    /// <summary>Allows binding a non-loopback address without <see cref="ApiKey"/>.</summary>
    public bool Insecure { get; init; }
    /// <summary>Largest request body in bytes (default 1 MiB); larger ones get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1 << 20;
    /// <summary>Most new tokens one request may ask for (default 1024); beyond it, 400.</summary>
    public int MaxTokens { get; init; } = 1024;
    /// <summary>Most completions one request may ask for (prompts times <c>n</c>, default 16).</summary>
    public int MaxChoices { get; init; } = 16;
    /// <summary>Rows decoded together per model (default 16).</summary>
    public int MaxBatchSize { get; init; } = 16;
    /// <summary>Requests waiting per model before 429 (default 64).</summary>
    public int MaxQueueLength { get; init; } = 64;
    /// <summary>Origins allowed to call the API from a browser page served elsewhere; none by default (CORS off).</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];
    /// <summary>Sampling defaults for fields a request leaves out (OpenAI's: temperature 1, top_p 1; max_tokens 16).</summary>
    public GenerationOptions Defaults { get; init; } = new() { MaxNewTokens = 16 };

    /// <summary>Throws <see cref="InvalidOptionException"/> for the first setting out of range.</summary>
    public void Validate()
    {
        const string type = nameof(ServerOptions);
        if (Models.Count == 0) throw new InvalidOptionException(type, nameof(Models), "must name at least one model folder");
        foreach (var m in Models)
            if (m.Name.Length == 0 || m.Name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':')))
                throw new InvalidOptionException(type, nameof(Models), "names must be letters, digits and -_.: only", m.Name);
        if (Models.Select(m => m.Name).Distinct().Count() != Models.Count) throw new InvalidOptionException(type, nameof(Models), "names must be unique");
        if (Port is < 0 or > 65535) throw new InvalidOptionException(type, nameof(Port), "must be in [0, 65535]", Port);
        if (MaxRequestBodyBytes < 1024) throw new InvalidOptionException(type, nameof(MaxRequestBodyBytes), "must be at least 1024", MaxRequestBodyBytes);
        if (MaxTokens < 1) throw new InvalidOptionException(type, nameof(MaxTokens), "must be at least 1", MaxTokens);
        if (MaxChoices < 1) throw new InvalidOptionException(type, nameof(MaxChoices), "must be at least 1", MaxChoices);
        if (ApiKey is { Length: 0 }) throw new InvalidOptionException(type, nameof(ApiKey), "must not be empty");
        if (!IsLoopback(Host) && ApiKey is null && !Insecure)
            throw new InvalidOptionException(type, nameof(Host), $"is not a loopback address ({Host}): set {nameof(ApiKey)}, or {nameof(Insecure)} to serve it without one");
        Defaults.Validate();
    }

    /// <summary>Whether <paramref name="host"/> names only this machine.</summary>
    public static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
}
