using Ptm.Data;

namespace Ptm.Training;

/// <summary>
/// The text a pre-training recipe (<see cref="Pretraining"/>) learns from: a file, folder or glob of text; a folder
/// already prepared for the model family (manifest.json); columns of a task file (<see cref="FromTaskFile"/>); or
/// documents held in memory.
/// </summary>
/// <remarks>
/// Without separate validation text, <see cref="ValidationFraction"/> of the documents is held out (whole
/// documents, picked by <see cref="Seed"/>). A single document, such as one text file, is first split into
/// documents at blank lines (see <see cref="DocumentSplitter"/>) so both splits get some.
/// </remarks>
public sealed record PretrainingCorpus
{
    /// <summary>The name given to in-memory text in manifests and messages.</summary>
    public const string InMemoryName = "(in-memory text)";

    PretrainingCorpus(string? path, string? validationPath, IReadOnlyList<string>? texts, IReadOnlyList<string>? validationTexts,
        IReadOnlyList<string>? taskColumns = null)
    {
        Path = path;
        ValidationPath = validationPath;
        Texts = texts;
        ValidationTexts = validationTexts;
        TaskColumns = taskColumns;
    }

    /// <summary>A file, folder (every *.txt below it; one holding train.txt and validation.txt uses those as its
    /// splits) or glob; or a folder prepared for the family, which is used as it is.</summary>
    public static PretrainingCorpus FromPath(string path, string? validationPath = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new PretrainingCorpus(path, validationPath, null, null);
    }

    /// <summary>
    /// The text of a task file's columns (.csv, .tsv or .jsonl, as fine-tuning reads them), each column a block of its
    /// own, one example per line, never beside another column's text: e.g. a translation file's German sources and
    /// English targets as two monolingual texts (see <see cref="TaskFileCorpus"/>). <paramref name="validationPath"/>
    /// is a task file with the same columns; without it, <see cref="ValidationFraction"/> of the examples is held out.
    /// </summary>
    /// <param name="path">the training task file</param>
    /// <param name="validationPath">the validation task file, or null</param>
    /// <param name="columns">the text columns; null for <c>source</c> and <c>target</c> (<see cref="TaskFileCorpus.DefaultColumns"/>)</param>
    public static PretrainingCorpus FromTaskFile(string path, string? validationPath = null, IReadOnlyList<string>? columns = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new PretrainingCorpus(path, validationPath, null, null, [.. columns ?? TaskFileCorpus.DefaultColumns]);
    }

    /// <summary>Documents held in memory; <paramref name="validation"/>, if given, is the held-out text.</summary>
    public static PretrainingCorpus FromTexts(IEnumerable<string> documents, IEnumerable<string>? validation = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        return new PretrainingCorpus(null, null, documents.ToList(), validation?.ToList());
    }

    /// <summary>One text held in memory (split into documents at blank lines, see the type's remarks).</summary>
    public static PretrainingCorpus FromText(string text) => FromTexts([text ?? throw new ArgumentNullException(nameof(text))]);

    /// <summary>The file, folder or glob, or null for in-memory text.</summary>
    public string? Path { get; }

    /// <summary>Separate validation text (file, folder or glob), or null.</summary>
    public string? ValidationPath { get; }

    /// <summary>The task file's text columns when <see cref="Path"/> is a task file (<see cref="FromTaskFile"/>), else null.</summary>
    public IReadOnlyList<string>? TaskColumns { get; }

    /// <summary>In-memory documents, or null.</summary>
    public IReadOnlyList<string>? Texts { get; }

    /// <summary>In-memory validation documents, or null.</summary>
    public IReadOnlyList<string>? ValidationTexts { get; }

    /// <summary>Share of the documents held out for validation when there is no separate validation text; in (0, 1). Default 0.1.</summary>
    public double ValidationFraction { get; init; } = 0.1;

    /// <summary>Picks the held-out documents; the same seed always holds out the same ones. Default 0.</summary>
    public ulong Seed { get; init; }

    /// <summary>A name for messages and manifests: the path, or <see cref="InMemoryName"/>.</summary>
    public string Name => Path ?? InMemoryName;

    /// <summary>Whether <see cref="Path"/> is a folder written by a preparer (it holds manifest.json).</summary>
    public bool IsPreparedFolder =>
        Path is not null && ValidationPath is null && TaskColumns is null && HoldsManifest(Path);

    static bool HoldsManifest(string path) => Directory.Exists(path) && File.Exists(System.IO.Path.Combine(path, DataManifest.FileName));

    /// <summary>Loads the documents of both splits.</summary>
    /// <exception cref="InvalidOptionException">ValidationFraction is not in (0, 1)</exception>
    /// <exception cref="InvalidInputException">a file is missing or unusable (a task file without a column, say), or
    /// a prepared folder was given with separate validation text</exception>
    public Corpus Load()
    {
        if (!(ValidationFraction > 0 && ValidationFraction < 1))
            throw new InvalidOptionException(nameof(PretrainingCorpus), nameof(ValidationFraction), "must be between 0 and 1 exclusive", ValidationFraction);
        if (TaskColumns is not null) return TaskFileCorpus.Load(Path!, ValidationPath, TaskColumns, ValidationFraction, Seed);
        if (Path is not null && ValidationPath is not null && HoldsManifest(Path))
            throw new InvalidInputException($"{Path}: a prepared folder (manifest.json) carries its own validation split; give no separate validation text");
        if (Path is not null) return Corpus.Load(CorpusTokenizer.Options(Path, ValidationPath, ValidationFraction, Seed));
        var options = new CorpusOptions(InMemoryName, ValidationTexts is null ? null : InMemoryName + " (validation)", ValidationFraction, Seed);
        var train = Documents(Texts!, InMemoryName);
        if (ValidationTexts is not null) return new Corpus(train, Documents(ValidationTexts, options.ValidationSpec!), options);
        return Corpus.Split(train, options);
    }

    static List<TextDocument> Documents(IReadOnlyList<string> texts, string name)
    {
        var documents = new List<TextDocument>();
        foreach (string text in texts)
            foreach (string document in TextSource.SplitDocuments(text ?? throw new ArgumentException("a document is null", nameof(texts))))
                documents.Add(new TextDocument(name, documents.Count, document));
        if (documents.Count == 0) throw new InvalidInputException($"{name}: corpus is empty");
        return documents;
    }
}
