using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.IO;
using Ptm.Tokenization;

namespace Ptm.Data;

/// <summary>
/// BART's vocabulary: byte-level BPE with the specials where fairseq and Hugging Face put them, <c>&lt;s&gt;</c> = 0,
/// <c>&lt;pad&gt;</c> = 1, <c>&lt;/s&gt;</c> = 2, <c>&lt;unk&gt;</c> = 3, then the 256 bytes and the merges, and
/// <c>&lt;mask&gt;</c> last, so <see cref="Modeling.BartConfig"/>'s default ids hold.
/// </summary>
public static class BartVocabulary
{
    /// <summary>The sequence start, id 0.</summary>
    public const string Bos = "<s>";
    /// <summary>Padding, id 1.</summary>
    public const string Pad = "<pad>";
    /// <summary>The sequence end (and BART's decoder start), id 2.</summary>
    public const string Eos = "</s>";
    /// <summary>Unknown (never produced by byte-level BPE; kept for Hugging Face's tokenizer), id 3.</summary>
    public const string Unk = "<unk>";
    /// <summary>The infilling mask, the last id.</summary>
    public const string Mask = "<mask>";

    /// <summary>
    /// Learns a byte-level BPE of <paramref name="vocabSize"/> ids on <paramref name="texts"/> and lays it out as BART
    /// does (see the type).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="vocabSize"/> is below 256 + 5.</exception>
    public static ByteLevelBpeTokenizer Train(IEnumerable<string> texts, int vocabSize)
    {
        var trained = ByteLevelBpeTokenizer.Train(texts, vocabSize, [Bos, Pad, Eos, Unk, Mask]);
        string[] front = [Bos, Pad, Eos, Unk];
        var vocabulary = new List<string>(front);
        for (int id = 0; id < trained.VocabSize; id++)
        {
            string token = trained.TokenText(id);
            if (!front.Contains(token) && token != Mask) vocabulary.Add(token);
        }
        vocabulary.Add(Mask);
        return new ByteLevelBpeTokenizer(vocabulary, trained.Merges, [.. front, Mask]);
    }

    /// <summary>The id of <paramref name="token"/>, which must be one of the tokenizer's specials.</summary>
    /// <exception cref="InvalidInputException">the tokenizer lacks it</exception>
    public static int Id(ByteLevelBpeTokenizer tokenizer, string token, string source)
    {
        for (int id = 0; id < tokenizer.VocabSize; id++)
            if (tokenizer.TokenText(id) == token && tokenizer.SpecialTokens.Contains(token)) return id;
        throw new InvalidInputException($"{source}: the tokenizer has no special token {token} (a BART vocabulary needs {Bos}, {Pad}, {Eos}, {Unk} and {Mask})");
    }
}

/// <summary>
/// A folder prepared for denoising (BART) pre-training: manifest.json (<c>"objective": "denoising"</c>), the tokenizer
/// files, and per split a binary file of sequences, each a run of consecutive sentences of one document holding at most
/// <c>max_seq_length</c> − 2 tokens. Noise is not stored: it is drawn anew for every batch from its seed.
/// </summary>
/// <remarks>Split file layout, int32 little-endian: the number of sequences, then per sequence its number of
/// sentences, then per sentence its length and ids. A sentence after the first of a sequence is tokenized with a
/// leading space, so the concatenation decodes to the sentences joined by spaces; a sentence longer than the budget is
/// cut.</remarks>
public sealed class DenoisingData
{
    /// <summary>The manifest's <c>objective</c> value that marks a denoising folder.</summary>
    public const string Objective = "denoising";
    /// <summary>The training split's file.</summary>
    public const string TrainFile = "train.bin";
    /// <summary>The validation split's file.</summary>
    public const string ValidationFile = "validation.bin";

    DenoisingData(ByteLevelBpeTokenizer tokenizer, int maxSeqLength, int[][][] train, int[][][] validation)
    {
        Tokenizer = tokenizer;
        MaxSeqLength = maxSeqLength;
        Train = train;
        Validation = validation;
    }

    /// <summary>The vocabulary the ids belong to.</summary>
    public ByteLevelBpeTokenizer Tokenizer { get; }

    /// <summary>Tokens per sequence, &lt;s&gt; and &lt;/s&gt; included.</summary>
    public int MaxSeqLength { get; }

    /// <summary>Training sequences, each a list of sentences of token ids.</summary>
    public int[][][] Train { get; }

    /// <summary>Validation sequences.</summary>
    public int[][][] Validation { get; }

    /// <summary>
    /// Trains a BART vocabulary of <paramref name="vocabSize"/> ids on the training documents and writes the folder
    /// (into a staging folder first, so a failure leaves nothing half-written). Returns summary lines.
    /// </summary>
    /// <exception cref="InvalidInputException">the corpus has no sentences, or a split has none</exception>
    public static IReadOnlyList<string> Prepare(Corpus corpus, int vocabSize, int maxSeqLength, SentenceSplitting sentences, string outputDir)
    {
        if (maxSeqLength < 3) throw new InvalidOptionException(nameof(DenoisingData), "maxSeqLength", "must be at least 3", maxSeqLength);
        var tokenizer = BartVocabulary.Train(corpus.Train.Select(d => d.Text), vocabSize);
        var train = Pack(tokenizer, corpus.Train, maxSeqLength - 2, sentences);
        var validation = Pack(tokenizer, corpus.Validation, maxSeqLength - 2, sentences);
        if (train.Count == 0) throw new InvalidInputException($"{corpus.Options.TrainSpec}: no sentences to train on");
        if (validation.Count == 0) throw new InvalidInputException($"{corpus.Options.ValidationSpec ?? corpus.Options.TrainSpec}: no validation sentences");
        StagedDirectory.Create(outputDir, temp =>
        {
            tokenizer.Save(temp);
            WriteSplit(Path.Combine(temp, TrainFile), train);
            WriteSplit(Path.Combine(temp, ValidationFile), validation);
            var manifest = new JsonObject
            {
                ["objective"] = Objective,
                ["maxSeqLength"] = maxSeqLength,
                ["vocabSize"] = tokenizer.VocabSize,
                ["sentences"] = sentences.ToString().ToLowerInvariant(),
                ["source"] = new JsonObject { ["train"] = corpus.Options.TrainSpec, ["validation"] = corpus.Options.ValidationSpec },
                ["splits"] = new JsonObject
                {
                    ["train"] = SplitNode(TrainFile, train),
                    ["validation"] = SplitNode(ValidationFile, validation),
                },
            };
            AtomicFile.WriteAllText(Path.Combine(temp, DataManifest.FileName), manifest.ToJsonString(JsonFiles.Indented) + "\n");
        });
        return
        [
            $"vocabulary {tokenizer.VocabSize} byte-level BPE tokens (BART specials)",
            $"train      {train.Count:N0} sequences, {train.Sum(s => s.Sum(x => x.Length)):N0} tokens",
            $"validation {validation.Count:N0} sequences, {validation.Sum(s => s.Sum(x => x.Length)):N0} tokens",
        ];
    }

    static JsonObject SplitNode(string file, List<int[][]> split) => new()
    {
        ["file"] = file, ["sequences"] = split.Count, ["tokens"] = split.Sum(s => s.Sum(x => (long)x.Length)),
    };

    /// <summary>Whether <paramref name="directory"/> holds a manifest.json marked as denoising data.</summary>
    public static bool IsDenoisingFolder(string directory)
    {
        string path = Path.Combine(directory, DataManifest.FileName);
        if (!File.Exists(path)) return false;
        var root = JsonFiles.ReadObject(path);
        return root.TryGetProperty("objective", out var o) && o.ValueKind == JsonValueKind.String && o.GetString() == Objective;
    }

    /// <summary>Reads a prepared folder.</summary>
    /// <exception cref="InvalidInputException">the folder is not denoising data, or a file is missing or damaged</exception>
    public static DenoisingData Load(string directory)
    {
        string manifestPath = Path.Combine(directory, DataManifest.FileName);
        if (!IsDenoisingFolder(directory))
            throw new InvalidInputException($"{manifestPath}: not a folder prepared for denoising pre-training (expected \"objective\": \"{Objective}\")");
        var root = JsonFiles.ReadObject(manifestPath);
        int maxSeqLength = root.TryGetProperty("maxSeqLength", out var m) && m.TryGetInt32(out int v) && v >= 3 ? v
            : throw new InvalidInputException($"{manifestPath}: field 'maxSeqLength' must be an integer of at least 3");
        var tokenizer = TokenizerFiles.Load(directory) as ByteLevelBpeTokenizer
            ?? throw new InvalidInputException($"{directory}: denoising data needs byte-level BPE tokenizer files (vocab.json + merges.txt)");
        return new DenoisingData(tokenizer, maxSeqLength,
            ReadSplit(Path.Combine(directory, TrainFile), tokenizer.VocabSize), ReadSplit(Path.Combine(directory, ValidationFile), tokenizer.VocabSize));
    }

    /// <summary>Documents to sequences of whole sentences (lines, or punctuation-split) of at most
    /// <paramref name="budget"/> tokens, greedily in order; a sentence longer than the budget is cut.</summary>
    internal static List<int[][]> Pack(ITokenizer tokenizer, IEnumerable<TextDocument> documents, int budget, SentenceSplitting mode)
    {
        var sequences = new List<int[][]>();
        foreach (var document in documents)
        {
            var current = new List<int[]>();
            int length = 0;
            foreach (string sentence in SentenceSplitter.Split(document.Text, mode))
            {
                int[] spaced = tokenizer.Encode(" " + sentence);
                if (current.Count > 0 && length + spaced.Length <= budget)
                {
                    current.Add(spaced);
                    length += spaced.Length;
                    continue;
                }
                if (current.Count > 0) sequences.Add([.. current]);
                int[] first = tokenizer.Encode(sentence);
                if (first.Length > budget) first = first[..budget];
                current = [first];
                length = first.Length;
            }
            if (current.Count > 0) sequences.Add([.. current]);
        }
        return sequences;
    }

    static void WriteSplit(string path, List<int[][]> split) => AtomicFile.Write(path, stream =>
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(split.Count);
        foreach (var sequence in split)
        {
            writer.Write(sequence.Length);
            foreach (var sentence in sequence)
            {
                writer.Write(sentence.Length);
                foreach (int id in sentence) writer.Write(id);
            }
        }
    });

    static int[][][] ReadSplit(string path, int vocabSize)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file");
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            long bytes = reader.BaseStream.Length;
            int Count(string what)
            {
                int n = reader.ReadInt32();
                if (n < 0 || n > bytes) throw new InvalidInputException($"{path}: damaged ({what} count {n})");
                return n;
            }
            var split = new int[Count("sequence")][][];
            for (int i = 0; i < split.Length; i++)
            {
                split[i] = new int[Count("sentence")][];
                for (int s = 0; s < split[i].Length; s++)
                {
                    var ids = split[i][s] = new int[Count("token")];
                    for (int t = 0; t < ids.Length; t++)
                    {
                        ids[t] = reader.ReadInt32();
                        if ((uint)ids[t] >= (uint)vocabSize) throw new InvalidInputException($"{path}: damaged (token id {ids[t]} outside the vocabulary of {vocabSize})");
                    }
                }
            }
            if (reader.BaseStream.Position != bytes) throw new InvalidInputException($"{path}: damaged ({bytes - reader.BaseStream.Position} bytes after the last sequence)");
            return split;
        }
        catch (EndOfStreamException) { throw new InvalidInputException($"{path}: damaged (ends in the middle of a sequence)"); }
    }
}
