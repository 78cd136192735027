using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.Data;
using Ptm.IO;
using Ptm.Modeling;

namespace Ptm.Training;

/// <summary>What elmo_data.json records about a folder prepared for ELMo pre-training.</summary>
public sealed record ElmoDataManifest
{
    /// <summary>Always "elmo-words": tells this folder from GPT and BERT data.</summary>
    [JsonPropertyName("format")] public string Format { get; init; } = ElmoData.Format;
    /// <summary>The text the folder was prepared from.</summary>
    [JsonPropertyName("corpus")] public string Corpus { get; init; } = "";
    /// <summary>Tokens of the training stream (words and sentence markers).</summary>
    [JsonPropertyName("train_tokens")] public long TrainTokens { get; init; }
    /// <summary>Tokens of the validation stream.</summary>
    [JsonPropertyName("validation_tokens")] public long ValidationTokens { get; init; }
    /// <summary>Distinct words of both splits (the input types, each read as characters).</summary>
    [JsonPropertyName("types")] public int Types { get; init; }
    /// <summary>The softmax vocabulary's size.</summary>
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    /// <summary>Share of the validation stream's words outside the softmax vocabulary (they are predicted as &lt;unk&gt;).</summary>
    [JsonPropertyName("validation_unk_rate")] public double ValidationUnkRate { get; init; }
}

/// <summary>
/// A corpus as ELMo's biLM trains on it: each split one stream of <c>&lt;S&gt; w1 … wn &lt;/S&gt;</c> sentences (one per
/// non-empty line of text) held as word-type ids, every type's character ids, and its softmax id. Training windows are
/// <see cref="TrainingConfig.BlockSize"/> tokens at random places (a pure function of the batch index and the seed);
/// validation windows are consecutive from the start of the validation stream.
/// </summary>
public sealed class ElmoData
{
    /// <summary>The manifest file of a prepared folder.</summary>
    public const string ManifestFile = "elmo_data.json";
    /// <summary>The input word types, one a line; a type id is its line number.</summary>
    public const string TypesFile = "elmo_types.txt";
    /// <summary>elmo_data.json's format tag.</summary>
    public const string Format = "elmo-words";
    const string TrainFile = "train.ids", ValidationFile = "validation.ids";

    readonly int[] train, validation;
    readonly int[] softmaxIds;

    ElmoData(ElmoDataManifest manifest, ElmoVocabulary vocabulary, string[] types, int[] train, int[] validation)
    {
        Manifest = manifest;
        Vocabulary = vocabulary;
        Types = types;
        this.train = train;
        this.validation = validation;
        softmaxIds = types.Select(vocabulary.Id).ToArray();
    }

    /// <summary>elmo_data.json.</summary>
    public ElmoDataManifest Manifest { get; }
    /// <summary>The softmax vocabulary.</summary>
    public ElmoVocabulary Vocabulary { get; }
    /// <summary>Every input word type; type ids index it.</summary>
    public IReadOnlyList<string> Types { get; }
    /// <summary>The training stream's type ids.</summary>
    public ReadOnlySpan<int> Train => train;
    /// <summary>The validation stream's type ids.</summary>
    public ReadOnlySpan<int> Validation => validation;

    /// <summary>The softmax id of type <paramref name="type"/>.</summary>
    public int SoftmaxId(int type) => softmaxIds[type];

    /// <summary>Whether <paramref name="directory"/> holds a prepared ELMo folder.</summary>
    public static bool IsPrepared(string directory) => File.Exists(Path.Combine(directory, ManifestFile));

    /// <summary>
    /// Splits each line of both splits into words (<see cref="ElmoVocabulary.SplitWords"/>), builds the softmax
    /// vocabulary of the training split's <paramref name="vocabSize"/> most frequent words, and writes the folder.
    /// </summary>
    /// <exception cref="InvalidInputException">A split has no words.</exception>
    public static ElmoDataManifest Prepare(Corpus corpus, string corpusName, int vocabSize, string directory)
    {
        static List<string[]> Sentences(IEnumerable<TextDocument> docs) => docs.SelectMany(d => d.Text.Split('\n'))
            .Select(l => ElmoVocabulary.SplitWords(l).Select(t => t.Text).ToArray()).Where(s => s.Length > 0).ToList();
        var trainSentences = Sentences(corpus.Train);
        var validationSentences = Sentences(corpus.Validation);
        if (trainSentences.Count == 0) throw new InvalidInputException($"{corpusName}: the training split has no words");
        if (validationSentences.Count == 0) throw new InvalidInputException($"{corpusName}: the validation split has no words");
        var vocabulary = ElmoVocabulary.Build(trainSentences, vocabSize);
        var types = new List<string> { ElmoVocabulary.BeginSentence, ElmoVocabulary.EndSentence };
        var typeIds = new Dictionary<string, int>(StringComparer.Ordinal) { [ElmoVocabulary.BeginSentence] = 0, [ElmoVocabulary.EndSentence] = 1 };
        int[] Stream(List<string[]> sentences)
        {
            var ids = new List<int>();
            foreach (var s in sentences)
            {
                ids.Add(0);
                foreach (string w in s)
                {
                    if (!typeIds.TryGetValue(w, out int id)) { id = types.Count; typeIds[w] = id; types.Add(w); }
                    ids.Add(id);
                }
                ids.Add(1);
            }
            return ids.ToArray();
        }
        int[] trainIds = Stream(trainSentences), validationIds = Stream(validationSentences);
        long validationWords = validationSentences.Sum(s => (long)s.Length);
        long unknown = validationSentences.Sum(s => (long)s.Count(w => vocabulary.Id(w) == ElmoVocabulary.UnknownId));
        var manifest = new ElmoDataManifest
        {
            Corpus = corpusName, TrainTokens = trainIds.Length, ValidationTokens = validationIds.Length, Types = types.Count,
            VocabSize = vocabulary.VocabSize, ValidationUnkRate = (double)unknown / validationWords,
        };
        Directory.CreateDirectory(directory);
        vocabulary.Save(directory);
        AtomicFile.WriteAllText(Path.Combine(directory, TypesFile), string.Join("\n", types) + "\n");
        AtomicFile.WriteAllBytes(Path.Combine(directory, TrainFile), MemoryMarshal.AsBytes(trainIds.AsSpan()));
        AtomicFile.WriteAllBytes(Path.Combine(directory, ValidationFile), MemoryMarshal.AsBytes(validationIds.AsSpan()));
        AtomicFile.WriteAllText(Path.Combine(directory, ManifestFile), JsonSerializer.Serialize(manifest, JsonFiles.Indented));
        return manifest;
    }

    /// <summary>Opens a folder written by <see cref="Prepare"/>.</summary>
    /// <exception cref="InvalidInputException">A file is missing or does not agree with the manifest.</exception>
    public static ElmoData Open(string directory)
    {
        string manifestPath = Path.Combine(directory, ManifestFile);
        if (!File.Exists(manifestPath)) throw new InvalidInputException($"{directory}: no {ManifestFile}; not a folder prepared for ELMo");
        var manifest = JsonFiles.DeserializeStrict<ElmoDataManifest>(JsonFiles.ReadObject(manifestPath), manifestPath);
        if (manifest.Format != Format) throw new InvalidInputException($"{manifestPath}: field 'format' must be \"{Format}\" (got \"{manifest.Format}\")");
        var vocabulary = ElmoVocabulary.Load(directory);
        string typesPath = Path.Combine(directory, TypesFile);
        if (!File.Exists(typesPath)) throw new InvalidInputException($"{typesPath}: no such file");
        var types = File.ReadAllText(typesPath).Split('\n');
        types = types.Take(types.Length > 0 && types[^1].Length == 0 ? types.Length - 1 : types.Length).ToArray();
        if (types.Length != manifest.Types) throw new InvalidInputException($"{typesPath}: {types.Length} types, but {ManifestFile} says {manifest.Types}");
        int[] Read(string name, long expected)
        {
            string path = Path.Combine(directory, name);
            if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file");
            var bytes = File.ReadAllBytes(path);
            if (bytes.Length != expected * sizeof(int)) throw new InvalidInputException($"{path}: {bytes.Length} bytes, expected {expected} int32 type ids ({ManifestFile})");
            var ids = MemoryMarshal.Cast<byte, int>(bytes).ToArray();
            foreach (int id in ids)
                if ((uint)id >= (uint)types.Length) throw new InvalidInputException($"{path}: type id {id} outside the {types.Length} types of {TypesFile}");
            return ids;
        }
        return new ElmoData(manifest, vocabulary, types, Read(TrainFile, manifest.TrainTokens), Read(ValidationFile, manifest.ValidationTokens));
    }

    /// <summary>The type ids of training batch <paramref name="index"/>: <paramref name="batchSize"/> windows of
    /// <paramref name="blockSize"/> tokens, each at a place drawn from (seed, index).</summary>
    /// <exception cref="InvalidInputException">The training stream is shorter than one window.</exception>
    public int[][] TrainBatch(long index, int batchSize, int blockSize, long seed)
    {
        if (train.Length < blockSize) throw new InvalidInputException($"the training stream has {train.Length} tokens, fewer than training.block_size ({blockSize})");
        var rng = SplitMix64.ForStep((ulong)seed, index);
        var rows = new int[batchSize][];
        for (int b = 0; b < batchSize; b++)
        {
            int start = (int)rng.NextBelow((ulong)(train.Length - blockSize + 1));
            rows[b] = train.AsSpan(start, blockSize).ToArray();
        }
        return rows;
    }

    /// <summary>Consecutive validation windows of <paramref name="blockSize"/> tokens, at most
    /// <paramref name="maxWindows"/>, the last one shorter if the stream ends (never shorter than 2 tokens).</summary>
    public IEnumerable<int[]> ValidationWindows(int blockSize, int maxWindows)
    {
        int n = 0;
        for (int start = 0; start + 1 < validation.Length && n < maxWindows; start += blockSize, n++)
            yield return validation.AsSpan(start, Math.Min(blockSize, validation.Length - start)).ToArray();
    }
}
