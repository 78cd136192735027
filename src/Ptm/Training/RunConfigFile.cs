using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.IO;

namespace Ptm.Training;

/// <summary>Reading a run's JSON config: sections, typed sections and <c>section.field=value</c> overrides.</summary>
public static class RunConfigFile
{
    /// <summary>Parses the config file at <paramref name="path"/> into an editable JSON object, for overrides and
    /// then a typed FromNode.</summary>
    /// <exception cref="InvalidInputException">the file is missing, not JSON, or not a JSON object</exception>
    public static JsonObject ReadNode(string path) => JsonNode.Parse(JsonFiles.ReadObject(path).GetRawText())!.AsObject();

    /// <summary>Applies <c>section.field=value</c> overrides; the value is read as JSON when it parses, else as a string.</summary>
    public static void ApplyOverrides(JsonObject root, IEnumerable<string> assignments, IReadOnlyCollection<string> sections)
    {
        foreach (string assignment in assignments)
        {
            int eq = assignment.IndexOf('=');
            string key = eq > 0 ? assignment[..eq] : "";
            string[] path = key.Split('.');
            if (eq <= 0 || path.Length != 2 || !sections.Contains(path[0]) || path[1].Length == 0)
                throw new InvalidInputException($"override '{assignment}': expected section.field=value with section one of {string.Join(", ", sections)}");
            string raw = assignment[(eq + 1)..];
            JsonNode? value;
            try { value = JsonNode.Parse(raw); }
            catch (JsonException) { value = JsonValue.Create(raw); }
            if (root[path[0]] is not JsonObject section) root[path[0]] = section = new JsonObject();
            section[path[1]] = value;
        }
    }

    /// <summary>Rejects a top-level key that is not one of <paramref name="sections"/>, naming <paramref name="source"/>.</summary>
    /// <exception cref="InvalidInputException">an unknown section</exception>
    internal static void CheckSections(JsonObject root, string source, IReadOnlyCollection<string> sections)
    {
        foreach (var (name, _) in root)
            if (!sections.Contains(name)) throw new InvalidInputException($"{source}: unknown section '{name}' (expected {string.Join(", ", sections)})");
    }

    /// <summary>A section deserialized strictly; an absent section gives the type's defaults.</summary>
    public static T Section<T>(JsonObject root, string name, string source) where T : new() =>
        root[name] is { } node ? JsonFiles.DeserializeStrict<T>(JsonSerializer.SerializeToElement(node), $"{source}: {name}") : new T();
}
