using System.Globalization;
using System.Text.Json;
using Ptm.IO;

namespace Ptm.FineTuning;

/// <summary>
/// Class names ↔ ids, fixed from the training file (names sorted ordinally, so the same data gives the same ids)
/// and saved with the model as labels.json: a JSON array of names in id order.
/// </summary>
public sealed class LabelMap
{
    /// <summary>The file in a model folder that holds the map.</summary>
    public const string FileName = "labels.json";

    readonly Dictionary<string, int> ids;

    /// <summary>The map of <paramref name="labels"/>, id = index.</summary>
    /// <exception cref="InvalidInputException">A name appears twice.</exception>
    public LabelMap(IReadOnlyList<string> labels)
    {
        Labels = labels;
        ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < labels.Count; i++)
            if (!ids.TryAdd(labels[i], i)) throw new InvalidInputException($"label '{labels[i]}' appears twice in the label map");
    }

    /// <summary>The class names in id order.</summary>
    public IReadOnlyList<string> Labels { get; }
    /// <summary>The number of classes.</summary>
    public int Count => Labels.Count;

    /// <summary>The map of every label (tagging: every tag) of the training split, names sorted ordinally.</summary>
    /// <exception cref="InvalidInputException">An example has no label, or there are fewer than two.</exception>
    public static LabelMap FromTraining(TaskData train)
    {
        // Tagging's classes are its tags; every other task with a label map has one label per example.
        var names = train.Examples.SelectMany(e => e.Tags ?? [e.Label ?? throw new InvalidInputException($"{train.Source}, line {e.Line}: no label")])
            .Distinct().Order(StringComparer.Ordinal).ToList();
        if (names.Count < 2) throw new InvalidInputException($"{train.Source}: only one label ('{names[0]}'); classification needs at least two");
        return new LabelMap(names);
    }

    /// <summary>The id of a label; one never seen in training is an error naming the file and line.</summary>
    public int Id(string label, string source, int line) => ids.TryGetValue(label, out int id) ? id
        : throw new InvalidInputException($"{source}, line {line}: label '{label}' was not seen in training (known: {string.Join(", ", Labels.Take(10))}{(Count > 10 ? ", ..." : "")})");

    /// <summary>Writes labels.json into <paramref name="directory"/> atomically.</summary>
    public void Save(string directory) =>
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(Labels, JsonFiles.Indented));

    /// <summary>Reads labels.json from <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing, not a JSON array of names, has fewer than two or a repeat.</exception>
    public static LabelMap Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file (a classifier's label map)");
        try
        {
            var labels = JsonSerializer.Deserialize<string[]>(File.ReadAllText(path));
            if (labels is null || labels.Length < 2) throw new InvalidInputException($"{path}: expected a JSON array of at least two label names");
            return new LabelMap(labels);
        }
        catch (JsonException e) { throw new InvalidInputException($"{path}: expected a JSON array of label names ({e.Message.Split('\n')[0]})"); }
    }

    /// <summary>A similarity target: a finite number.</summary>
    public static float Score(string label, string source, int line) =>
        float.TryParse(label, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) && float.IsFinite(v) ? v
            : throw new InvalidInputException($"{source}, line {line}: label '{label}' is not a number (similarity needs a numeric score)");

    /// <summary>A multiple-choice label: the 0-based index of the right choice.</summary>
    public static int ChoiceIndex(string label, int choices, string source, int line) =>
        int.TryParse(label, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 && v < choices ? v
            : throw new InvalidInputException($"{source}, line {line}: label '{label}' must be the 0-based index of the right choice (0..{choices - 1})");
}
