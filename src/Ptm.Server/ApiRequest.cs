using System.Text.Json;

namespace Ptm.Server;

/// <summary>
/// A request the server refuses, with what OpenAI's error object carries: the HTTP status, a message, an error type
/// (<c>invalid_request_error</c>, ...), the request field at fault and a short code.
/// </summary>
public sealed class ApiException(int status, string message, string type = "invalid_request_error", string? param = null, string? code = null)
    : Exception(message)
{
    /// <summary>The HTTP status to answer with (4xx for the client's mistakes).</summary>
    public int Status { get; } = status;
    /// <summary>OpenAI's error type, e.g. <c>invalid_request_error</c>.</summary>
    public string Type { get; } = type;
    /// <summary>The request field at fault, or null.</summary>
    public string? Param { get; } = param;
    /// <summary>A short machine-readable code, or null.</summary>
    public string? Code { get; } = code;

    /// <summary>The OpenAI-style body: <c>{"error": {"message", "type", "param", "code"}}</c>.</summary>
    public object Body => new { error = new { message = Message, type = Type, param = Param, code = Code } };
}

/// <summary>
/// A JSON request body read field by field: every getter checks the field's JSON type and range and throws a 400
/// <see cref="ApiException"/> naming the field. Fields the server does not know are ignored (clients send extras).
/// </summary>
sealed class ApiRequest(JsonElement root)
{
    /// <summary>Parses the request body; malformed JSON or a non-object is a 400.</summary>
    public static async Task<ApiRequest> ReadAsync(HttpRequest request, CancellationToken cancellation)
    {
        if (request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(415, $"Content-Type must be application/json (got {type})", code: "unsupported_media_type");
        JsonDocument doc;
        try { doc = await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = 16 }, cancellation); }
        catch (JsonException e) { throw new ApiException(400, $"the request body is not valid JSON: {e.Message}", code: "invalid_json"); }
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new ApiException(400, "the request body must be a JSON object", code: "invalid_json");
        CheckStrings(doc.RootElement);
        return new ApiRequest(doc.RootElement.Clone());
    }

    /// <summary>Refuses a body with a string that is not valid UTF-16 (an escaped lone surrogate such as "\ud800"):
    /// the parser accepts it, but reading it as a .NET string throws, which must be the client's 400, not a 500.</summary>
    static void CheckStrings(JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    element.GetString();
                    break;
                case JsonValueKind.Array:
                    foreach (var item in element.EnumerateArray()) CheckStrings(item);
                    break;
                case JsonValueKind.Object:
                    foreach (var property in element.EnumerateObject())
                    {
                        _ = property.Name;
                        CheckStrings(property.Value);
                    }
                    break;
            }
        }
        catch (InvalidOperationException)
        {
            throw new ApiException(400, "the request body holds a string that is not valid UTF-16 (a lone surrogate escape)", code: "invalid_json");
        }
    }

    public JsonElement Root => root;

    JsonElement? Field(string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public bool Has(string name) => Field(name) is not null;

    static ApiException Wrong(string name, string expected) => new(400, $"'{name}' must be {expected}", param: name, code: "invalid_type");

    public string RequiredString(string name) =>
        String(name) ?? throw new ApiException(400, $"'{name}' is required", param: name, code: "missing_field");

    public string? String(string name) => Field(name) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw Wrong(name, "a string")
        : null;

    public bool Bool(string name, bool fallback) => Field(name) is { } v
        ? v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Wrong(name, "true or false")
        : fallback;

    public int? Int(string name, int min, int max)
    {
        if (Field(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x)) throw Wrong(name, "an integer");
        if (x < min || x > max) throw new ApiException(400, $"'{name}' must be in [{min}, {max}] (got {x})", param: name, code: "out_of_range");
        return (int)x;
    }

    public long? Long(string name)
    {
        if (Field(name) is not { } v) return null;
        return v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x) ? x : throw Wrong(name, "an integer");
    }

    public double? Double(string name, double min, double max)
    {
        if (Field(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw Wrong(name, "a number");
        double x = v.GetDouble();
        if (!(x >= min && x <= max)) throw new ApiException(400, $"'{name}' must be in [{min}, {max}] (got {x})", param: name, code: "out_of_range");
        return x;
    }

    /// <summary>A string or an array of strings (OpenAI's <c>prompt</c>, <c>input</c>, <c>stop</c>); null when absent.</summary>
    public IReadOnlyList<string>? Strings(string name, int maxCount)
    {
        if (Field(name) is not { } v) return null;
        if (v.ValueKind == JsonValueKind.String) return [v.GetString()!];
        if (v.ValueKind != JsonValueKind.Array) throw Wrong(name, "a string or an array of strings");
        var list = new List<string>();
        foreach (var e in v.EnumerateArray())
            list.Add(e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Wrong(name, "a string or an array of strings (token-id arrays are not accepted)"));
        if (list.Count > maxCount) throw new ApiException(400, $"'{name}' holds {list.Count} items; at most {maxCount} are accepted", param: name, code: "out_of_range");
        return list;
    }

    public JsonElement? Object(string name) => Field(name) is { } v
        ? v.ValueKind == JsonValueKind.Object ? v : throw Wrong(name, "an object")
        : null;

    public JsonElement? Array(string name) => Field(name) is { } v
        ? v.ValueKind == JsonValueKind.Array ? v : throw Wrong(name, "an array")
        : null;
}
