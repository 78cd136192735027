using System.Text;

namespace Ptm.Prompting;

/// <summary>
/// A prompt with <c>{field}</c> placeholders, e.g. <c>"Definition: {text}\nCategory: {label}"</c>. The fields are an
/// example's <c>text</c> and <c>text_pair</c>, and <c>{label}</c>, the answer slot, which must appear exactly once:
/// a demonstration is rendered whole with its answer there, a query up to the slot (what follows it is for
/// demonstrations only), and the answer candidates are scored as the continuation. <c>{{</c> and <c>}}</c> stand for
/// literal braces.
/// </summary>
public sealed class PromptTemplate
{
    /// <summary>The answer slot's name.</summary>
    public const string LabelField = "label";

    /// <summary>The fields an example can fill in (besides <see cref="LabelField"/>).</summary>
    public static readonly IReadOnlyList<string> ExampleFields = ["text", "text_pair"];

    readonly List<(string? Literal, string? Field)> segments = [];
    readonly int labelIndex;

    /// <summary>Parses <paramref name="template"/>.</summary>
    /// <exception cref="InvalidInputException">An unknown field, an unclosed or stray brace, or not exactly one <c>{label}</c>.</exception>
    public PromptTemplate(string template)
    {
        Source = template;
        var literal = new StringBuilder();
        int labels = 0;
        for (int i = 0; i < template.Length; i++)
        {
            char c = template[i];
            if (c == '{' && i + 1 < template.Length && template[i + 1] == '{') { literal.Append('{'); i++; continue; }
            if (c == '}' && i + 1 < template.Length && template[i + 1] == '}') { literal.Append('}'); i++; continue; }
            if (c == '}') throw new InvalidInputException($"prompt template: a '}}' at character {i} closes nothing (write '}}}}' for a literal brace)");
            if (c != '{') { literal.Append(c); continue; }
            int end = template.IndexOf('}', i + 1);
            if (end < 0) throw new InvalidInputException($"prompt template: the '{{' at character {i} is not closed (write '{{{{' for a literal brace)");
            string name = template[(i + 1)..end];
            if (name != LabelField && !ExampleFields.Contains(name))
                throw new InvalidInputException($"prompt template: unknown field '{{{name}}}' (known: {{text}}, {{text_pair}}, {{label}})");
            if (literal.Length > 0) { segments.Add((literal.ToString(), null)); literal.Clear(); }
            if (name == LabelField) labels++;
            segments.Add((null, name));
            i = end;
        }
        if (literal.Length > 0) segments.Add((literal.ToString(), null));
        if (labels != 1) throw new InvalidInputException($"prompt template: needs exactly one {{label}} (the answer slot), found {labels}");
        labelIndex = segments.FindIndex(s => s.Field == LabelField);
        Fields = segments.Where(s => s.Field is not null && s.Field != LabelField).Select(s => s.Field!).Distinct().ToList();
    }

    /// <summary>The template as given.</summary>
    public string Source { get; }

    /// <summary>The example fields the template uses, in order of first appearance.</summary>
    public IReadOnlyList<string> Fields { get; }

    /// <summary>The text up to the answer slot with <paramref name="fields"/> filled in: what the model continues.</summary>
    /// <exception cref="InvalidInputException">A field the template uses is missing from <paramref name="fields"/>.</exception>
    public string RenderQuery(IReadOnlyDictionary<string, string> fields) => Render(fields, null, labelIndex);

    /// <summary>The whole template with <paramref name="fields"/> and <paramref name="answer"/> filled in: a demonstration.</summary>
    public string RenderDemonstration(IReadOnlyDictionary<string, string> fields, string answer) => Render(fields, answer, segments.Count);

    /// <summary>
    /// The literal text between the last example field and the answer slot, leading whitespace removed (for
    /// <c>"{text}\nCategory: {label}"</c>: <c>"Category: "</c>). Domain-conditional PMI scores the answers after it
    /// alone (Holtzman et al. 2021's "domain premise"); empty when a field is right before the slot.
    /// </summary>
    public string DomainPremise
    {
        get
        {
            var sb = new StringBuilder();
            for (int i = labelIndex - 1; i >= 0 && segments[i].Literal is { } lit; i--) sb.Insert(0, lit);
            return sb.ToString().TrimStart();
        }
    }

    string Render(IReadOnlyDictionary<string, string> fields, string? answer, int count)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            var (lit, field) = segments[i];
            if (lit is not null) sb.Append(lit);
            else if (field == LabelField) sb.Append(answer);
            else sb.Append(fields.TryGetValue(field!, out var v) ? v
                : throw new InvalidInputException($"prompt template: the example has no '{field}' for {{{field}}}"));
        }
        return sb.ToString();
    }
}
