using Ptm.FineTuning;

namespace Ptm.Data;

/// <summary>
/// Monolingual pre-training text taken from task files: each listed column of a task file (a translation file's
/// <c>source</c> and <c>target</c>, say) becomes a document of its own, one example per line in file order. A
/// sequence is packed from one document, so the model sees each column's text as a separate block and never a source
/// beside its target (mBART's monolingual data, not parallel pairs).
/// </summary>
/// <remarks>
/// Line breaks inside a field become spaces, so an example stays one line (one sentence when sentences are lines);
/// fields that are empty or only whitespace are skipped. Without a validation file, whole examples are held out: the
/// held-out examples' texts of every column go to validation, so no validation line is also a training line of
/// another column's block.
/// </remarks>
public static class TaskFileCorpus
{
    /// <summary>The columns of a sequence-to-sequence task file, as <see cref="TaskFile.ReadSeq2Seq"/> reads them.</summary>
    public static readonly IReadOnlyList<string> DefaultColumns = ["source", "target"];

    /// <summary>The documents of <paramref name="path"/>: one per column of <paramref name="columns"/>, in that order.</summary>
    /// <exception cref="InvalidInputException">the file is missing, malformed or empty, lacks a column, or a column has
    /// no text; the message names the file and the column</exception>
    public static IReadOnlyList<TextDocument> Documents(string path, IReadOnlyList<string> columns)
    {
        CheckColumns(columns);
        return Blocks(path, TaskFile.ReadColumns(path, columns), columns);
    }

    /// <summary>
    /// Both splits: the documents of <paramref name="trainPath"/> and of <paramref name="validationPath"/>, or, without
    /// a validation file, <paramref name="validationFraction"/> of the training file's examples held out (at least
    /// one, picked by <paramref name="seed"/>; the same seed holds out the same examples).
    /// </summary>
    /// <exception cref="InvalidInputException">a file is unusable (see <see cref="Documents"/>), or there are too few
    /// examples to hold some out</exception>
    public static Corpus Load(string trainPath, string? validationPath, IReadOnlyList<string> columns, double validationFraction = 0.1, ulong seed = 0)
    {
        CheckColumns(columns);
        var options = new CorpusOptions(trainPath, validationPath, validationFraction, seed);
        var rows = TaskFile.ReadColumns(trainPath, columns);
        if (validationPath is not null)
            return new Corpus(Blocks(trainPath, rows, columns), Documents(validationPath, columns), options);
        if (!(validationFraction > 0 && validationFraction < 1))
            throw new InvalidOptionException(nameof(CorpusOptions), nameof(CorpusOptions.ValidationFraction), "must be between 0 and 1 exclusive", validationFraction);
        if (rows.Count < 2)
            throw new InvalidInputException($"{trainPath}: {rows.Count} example, need at least 2 to hold some out for validation (or give a validation file)");
        int held = Math.Clamp((int)Math.Round(validationFraction * rows.Count), 1, rows.Count - 1);
        int[] order = Enumerable.Range(0, rows.Count).ToArray();
        var rng = new SplitMix64(SplitMix64.Mix(seed));
        for (int i = order.Length - 1; i > 0; i--) // Fisher-Yates
        {
            int j = (int)rng.NextBelow((ulong)i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var heldOut = new HashSet<int>(order.Take(held));
        var train = rows.Where((_, i) => !heldOut.Contains(i)).ToList();
        var validation = rows.Where((_, i) => heldOut.Contains(i)).ToList();
        return new Corpus(Blocks(trainPath, train, columns), Blocks(trainPath, validation, columns, " among the held-out examples"), options);
    }

    static List<TextDocument> Blocks(string path, IReadOnlyList<(int Line, string[] Texts)> rows, IReadOnlyList<string> columns, string where = "")
    {
        var documents = new List<TextDocument>(columns.Count);
        for (int c = 0; c < columns.Count; c++)
        {
            var lines = rows.Select(r => OneLine(r.Texts[c])).Where(l => l.Length > 0).ToList();
            if (lines.Count == 0) throw new InvalidInputException($"{path}: column '{columns[c]}' has no text{where}");
            documents.Add(new TextDocument(path, c, string.Join("\n", lines) + "\n"));
        }
        return documents;
    }

    static string OneLine(string text) => string.Join(' ', text.Split(['\r', '\n', '\f'], StringSplitOptions.RemoveEmptyEntries)).Trim();

    static void CheckColumns(IReadOnlyList<string> columns)
    {
        ArgumentNullException.ThrowIfNull(columns);
        if (columns.Count == 0 || columns.Any(string.IsNullOrWhiteSpace) || columns.Distinct(StringComparer.Ordinal).Count() != columns.Count)
            throw new InvalidOptionException("PretrainingCorpus", "TaskColumns", "must name one or more distinct columns", $"[{string.Join(", ", columns)}]");
    }
}
