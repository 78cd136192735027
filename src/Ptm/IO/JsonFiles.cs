using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ptm.IO;

/// <summary>Reads JSON config files with errors that name the file and, where it can, the field.</summary>
public static class JsonFiles
{
    /// <summary>Strict: numbers must be numbers, no comments or trailing commas, so typos surface at once.</summary>
    public static readonly JsonSerializerOptions Options = new()
    {
        NumberHandling = JsonNumberHandling.Strict,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };

    /// <summary>For files people read: indented, null properties left out.</summary>
    public static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Parsing options that refuse a property repeated in one object: readers that build a JsonObject
    /// (config.json, run configs, tokenizer files) would otherwise fail on it, and which value counts is ambiguous.</summary>
    public static readonly JsonDocumentOptions Strict = new() { AllowDuplicateProperties = false };

    /// <summary>The root object of the JSON file at <paramref name="path"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing, unreadable, not JSON, or its root is not an object; the message names the file.</exception>
    public static JsonElement ReadObject(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file");
        string text;
        try { text = File.ReadAllText(path); }
        catch (IOException e) { throw new InvalidInputException($"{path}: cannot read ({e.Message})"); }
        JsonElement root;
        try { root = JsonDocument.Parse(text, Strict).RootElement.Clone(); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: not valid JSON ({FirstLine(e.Message)})"); }
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidInputException($"{path}: expected a JSON object at the top level");
        return root;
    }

    /// <summary>
    /// Deserializes an object whose every field must be a known property of <typeparamref name="T"/> (by its
    /// JsonPropertyName) or listed in <paramref name="ignored"/>; a typo'd or mistyped field is an error naming it.
    /// </summary>
    public static T DeserializeStrict<T>(JsonElement element, string source, IReadOnlySet<string>? ignored = null)
    {
        if (element.ValueKind != JsonValueKind.Object) throw new InvalidInputException($"{source}: expected a JSON object");
        var known = typeof(T).GetProperties()
            .Select(p => p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false).Cast<JsonPropertyNameAttribute>().FirstOrDefault()?.Name)
            .OfType<string>().ToList();
        foreach (var property in element.EnumerateObject())
            if (!known.Contains(property.Name) && ignored?.Contains(property.Name) != true)
                throw new InvalidInputException($"{source}: unknown field '{property.Name}' (known fields: {string.Join(", ", known)})");
        try
        {
            return element.Deserialize<T>(Options) ?? throw new InvalidInputException($"{source}: expected a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidInputException($"{source}: field '{FieldOf(e)}' has the wrong type ({FirstLine(e.Message)})");
        }
    }

    /// <summary>The field a deserialization error happened at, from the exception's JSON path ("$.n_embd").</summary>
    public static string FieldOf(JsonException e) => e.Path is { Length: > 2 } p && p.StartsWith("$.") ? p[2..] : e.Path ?? "?";

    /// <summary>The first line of an exception message, for one-line errors.</summary>
    public static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
