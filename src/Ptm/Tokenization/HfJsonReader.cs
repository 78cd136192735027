using System.Text;
using System.Text.Json;

namespace Ptm.Tokenization;

/// <summary>
/// Field access for a Hugging Face tokenizer.json in which every failure is an <see cref="InvalidInputException"/>
/// naming the file and the dotted field (e.g. "model.dropout"), so a user sees at once what to fix.
/// </summary>
internal sealed class HfJsonReader(string path)
{
    public string Path { get; } = path;

    /// <summary>Parses the file; the caller disposes the document.</summary>
    public JsonDocument Parse()
    {
        string text = TokenizerFiles.ReadText(Path);
        IO.JsonFiles.CheckSurrogateEscapes(text.AsSpan(), Path);
        try { return JsonDocument.Parse(text, IO.JsonFiles.Strict); }
        catch (JsonException e) { throw new InvalidInputException($"{Path}: not valid JSON ({e.Message})", e); }
    }

    public InvalidInputException Fail(string field, string problem) => new($"{Path}: {field} {problem}");

    /// <summary>The property, or null when it is absent or JSON null.</summary>
    public static JsonElement? Find(JsonElement o, string name) =>
        o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public JsonElement Object(JsonElement o, string name, string field) =>
        Find(o, name) is { ValueKind: JsonValueKind.Object } v ? v : throw Fail(field, "must be a JSON object");

    public string? String(JsonElement o, string name, string field) => Find(o, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        var v => throw Fail(field, $"is {v.Value.GetRawText()}; expected a string"),
    };

    public bool? Bool(JsonElement o, string name, string field) => Find(o, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        var v => throw Fail(field, $"is {v.Value.GetRawText()}; expected true or false"),
    };

    public int Int(JsonElement v, string field) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n) ? n : throw Fail(field, $"is {v.GetRawText()}; expected an integer");
}
