using System.Numerics;
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
        CheckSurrogateEscapes(text.AsSpan(), path);
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

    /// <summary>
    /// Refuses a <c>\u</c> escape that is half of a UTF-16 surrogate pair (a high half not followed by an escaped low
    /// half, or a low half alone). System.Text.Json parses such text but throws InvalidOperationException when the
    /// string is read, which would slip past a loader's error handling; checking the text first keeps the refusal an
    /// <see cref="InvalidInputException"/>. <paramref name="json"/> is UTF-16 text or UTF-8 bytes.
    /// </summary>
    /// <exception cref="InvalidInputException">Such an escape, named with its offset and <paramref name="source"/>.</exception>
    public static void CheckSurrogateEscapes<T>(ReadOnlySpan<T> json, string source) where T : unmanaged, IBinaryInteger<T>
    {
        for (int i = 0; i < json.Length; i++)
        {
            if (int.CreateTruncating(json[i]) != '\\' || i + 1 >= json.Length) continue;
            if (int.CreateTruncating(json[i + 1]) != 'u') { i++; continue; } // \" \\ \n ...: skip the escaped character
            int unit = Hex(json, i + 2);
            if (unit < 0) { i++; continue; }                                // malformed: the parser reports it
            if (unit is >= 0xD800 and <= 0xDBFF)
            {
                bool escapeFollows = i + 7 < json.Length && int.CreateTruncating(json[i + 6]) == '\\' && int.CreateTruncating(json[i + 7]) == 'u';
                if (escapeFollows && Hex(json, i + 8) is >= 0xDC00 and <= 0xDFFF) { i += 11; continue; }
            }
            if (unit is >= 0xD800 and <= 0xDFFF)
                throw new InvalidInputException($"{source}: not valid JSON (the escape \\u{unit:x4} at offset {i} is half of a UTF-16 surrogate pair)");
            i += 5;
        }
    }

    static int Hex<T>(ReadOnlySpan<T> s, int at) where T : unmanaged, IBinaryInteger<T>
    {
        if (at + 4 > s.Length) return -1;
        int value = 0;
        for (int k = 0; k < 4; k++)
        {
            int c = int.CreateTruncating(s[at + k]);
            int digit = c is >= '0' and <= '9' ? c - '0' : (c | 0x20) is >= 'a' and <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
            if (digit < 0) return -1;
            value = value * 16 + digit;
        }
        return value;
    }

    /// <summary>The first line of an exception message, for one-line errors.</summary>
    public static string FirstLine(string message) => message.Split('\n')[0].Trim();
}
