namespace Ptm.Prompting;

/// <summary>
/// Label → the word(s) the language model is asked to produce for it, e.g. <c>noun.animal → animal</c>. A word may be
/// several tokens; it is scored by the sum (or mean) of its tokens' log-probabilities. Labels without an entry stand
/// for themselves (<see cref="Identity"/> maps every label so).
/// </summary>
public sealed class Verbalizer
{
    readonly Dictionary<string, string> words;

    /// <summary>A verbalizer with the given entries.</summary>
    /// <exception cref="InvalidInputException">An empty word.</exception>
    public Verbalizer(IReadOnlyDictionary<string, string> entries)
    {
        words = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (label, word) in entries)
        {
            if (word.Trim().Length == 0) throw new InvalidInputException($"verbalizer: label '{label}' maps to an empty word");
            words[label] = word;
        }
    }

    /// <summary>Every label is its own word.</summary>
    public static Verbalizer Identity { get; } = new(new Dictionary<string, string>());

    /// <summary>The explicit entries, label → word.</summary>
    public IReadOnlyDictionary<string, string> Entries => words;

    /// <summary>The word for <paramref name="label"/>.</summary>
    public string Word(string label) => words.TryGetValue(label, out var w) ? w : label;

    /// <summary>Reads <c>label=word,label=word</c> (a word may contain spaces; '=' and ',' cannot appear in either).</summary>
    /// <exception cref="InvalidInputException">An entry without '=' or a label given twice.</exception>
    public static Verbalizer Parse(string spec)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) throw new InvalidInputException($"verbalizer: '{part}' is not label=word");
            string label = part[..eq].Trim();
            if (!entries.TryAdd(label, part[(eq + 1)..].Trim())) throw new InvalidInputException($"verbalizer: label '{label}' is given twice");
        }
        return new Verbalizer(entries);
    }

    /// <summary>The words of <paramref name="labels"/>, checked to be distinct (two labels with one word could not be told apart).</summary>
    /// <exception cref="InvalidInputException">Two labels share a word.</exception>
    public IReadOnlyList<string> Words(IReadOnlyList<string> labels)
    {
        var result = labels.Select(Word).ToList();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < labels.Count; i++)
            if (!seen.TryAdd(result[i], labels[i]))
                throw new InvalidInputException($"verbalizer: labels '{seen[result[i]]}' and '{labels[i]}' both map to '{result[i]}'");
        return result;
    }
}
