using System.Text;
using System.Text.Json;

namespace Ptm.Serving;

/// <summary>
/// How a chat becomes a prompt for a GPT that was trained (or fine-tuned) on text laid out as a conversation. Stored as
/// <c>ptm-chat.json</c> in the model folder (a Jinja <c>chat_template</c> would need a template engine; this needs none):
/// <code>
/// {
///   "system":    "{content}\n\n",
///   "user":      "Q: {content}\n",
///   "assistant": "A: {content}\n",
///   "generation_prompt": "A:",
///   "stop": ["\nQ:"]
/// }
/// </code>
/// Each message is its role's pattern with <c>{content}</c> replaced by the message text; the prompt is the messages in
/// order followed by <c>generation_prompt</c>, and the reply ends at any of <c>stop</c> (added to the request's own
/// stop strings) or at &lt;|endoftext|&gt;. <c>user</c>, <c>assistant</c> and <c>generation_prompt</c> are required;
/// without <c>system</c> a system message is refused; every pattern must contain <c>{content}</c> once.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The template's file name inside a model folder.</summary>
    public const string FileName = "ptm-chat.json";

    const string Slot = "{content}";

    /// <summary>A template from its parts; each pattern must contain <c>{content}</c> exactly once.</summary>
    public ChatTemplate(string? system, string user, string assistant, string generationPrompt, IReadOnlyList<string>? stop = null, string source = FileName)
    {
        System = Check(system, "system", source);
        User = Check(user, "user", source)!;
        Assistant = Check(assistant, "assistant", source)!;
        GenerationPrompt = generationPrompt;
        Stop = stop ?? [];
        if (Stop.Any(s => s.Length == 0)) throw new InvalidInputException($"{source}: \"stop\" must not contain empty strings");
    }

    /// <summary>Pattern of a system message, or null when the template has none.</summary>
    public string? System { get; }
    /// <summary>Pattern of a user message.</summary>
    public string User { get; }
    /// <summary>Pattern of an assistant message.</summary>
    public string Assistant { get; }
    /// <summary>Text after the last message that the model continues as the assistant.</summary>
    public string GenerationPrompt { get; }
    /// <summary>Texts that end the assistant's reply.</summary>
    public IReadOnlyList<string> Stop { get; }

    static string? Check(string? pattern, string field, string source)
    {
        if (pattern is null) return null;
        int at = pattern.IndexOf(Slot, StringComparison.Ordinal);
        if (at < 0 || pattern.IndexOf(Slot, at + 1, StringComparison.Ordinal) >= 0)
            throw new InvalidInputException($"{source}: \"{field}\" must contain {Slot} exactly once");
        return pattern;
    }

    /// <summary>The template in <paramref name="modelDirectory"/>, or null when the folder has no <see cref="FileName"/>;
    /// a malformed file throws <see cref="InvalidInputException"/> naming it and the field.</summary>
    public static ChatTemplate? Load(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, FileName);
        if (!File.Exists(path)) return null;
        JsonElement root;
        try { root = JsonDocument.Parse(File.ReadAllText(path)).RootElement; }
        catch (JsonException e) { throw new InvalidInputException($"{path}: not valid JSON ({e.Message})"); }
        if (root.ValueKind != JsonValueKind.Object) throw new InvalidInputException($"{path}: expected a JSON object");
        string? system = null, user = null, assistant = null, generation = null;
        var stop = new List<string>();
        foreach (var p in root.EnumerateObject())
        {
            switch (p.Name)
            {
                case "system": system = Text(p, path); break;
                case "user": user = Text(p, path); break;
                case "assistant": assistant = Text(p, path); break;
                case "generation_prompt": generation = Text(p, path); break;
                case "stop":
                    if (p.Value.ValueKind != JsonValueKind.Array) throw new InvalidInputException($"{path}: \"stop\" must be an array of strings");
                    foreach (var s in p.Value.EnumerateArray())
                        stop.Add(s.ValueKind == JsonValueKind.String ? s.GetString()! : throw new InvalidInputException($"{path}: \"stop\" must be an array of strings"));
                    break;
                default: throw new InvalidInputException($"{path}: unknown field \"{p.Name}\" (expected system, user, assistant, generation_prompt, stop)");
            }
        }
        return new ChatTemplate(system,
            user ?? throw new InvalidInputException($"{path}: \"user\" is missing"),
            assistant ?? throw new InvalidInputException($"{path}: \"assistant\" is missing"),
            generation ?? throw new InvalidInputException($"{path}: \"generation_prompt\" is missing"), stop, path);
    }

    static string Text(JsonProperty p, string path) =>
        p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : throw new InvalidInputException($"{path}: \"{p.Name}\" must be a string");

    /// <summary>The prompt for <paramref name="messages"/> (role <c>system</c>, <c>user</c> or <c>assistant</c>, and
    /// text), ending in the generation prompt. An unknown role, or a system message without a system pattern, throws
    /// <see cref="InvalidInputException"/>.</summary>
    public string Render(IEnumerable<(string Role, string Content)> messages)
    {
        var prompt = new StringBuilder();
        foreach (var (role, content) in messages)
        {
            string pattern = role switch
            {
                "system" => System ?? throw new InvalidInputException($"the model's {FileName} has no \"system\" pattern, so it takes no system message"),
                "user" => User,
                "assistant" => Assistant,
                _ => throw new InvalidInputException($"message role \"{role}\" is not supported (expected system, user or assistant)"),
            };
            prompt.Append(pattern.Replace(Slot, content, StringComparison.Ordinal));
        }
        return prompt.Append(GenerationPrompt).ToString();
    }

    /// <summary>Writes the template as <see cref="FileName"/> into <paramref name="modelDirectory"/>.</summary>
    public void Save(string modelDirectory)
    {
        var fields = new Dictionary<string, object>();
        if (System is not null) fields["system"] = System;
        fields["user"] = User;
        fields["assistant"] = Assistant;
        fields["generation_prompt"] = GenerationPrompt;
        fields["stop"] = Stop;
        IO.AtomicFile.WriteAllText(Path.Combine(modelDirectory, FileName), JsonSerializer.Serialize(fields, new JsonSerializerOptions { WriteIndented = true }));
    }
}
