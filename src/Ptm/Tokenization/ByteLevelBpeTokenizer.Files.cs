using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ptm.IO;

namespace Ptm.Tokenization;

// Reading and writing the two common layouts of the same data: a JSON object token → id, and a text file of
// merges "left right", one per line in rank order, after a "#version" line. Hugging Face names them
// vocab.json + merges.txt; OpenAI's GPT-2 release names them encoder.json + vocab.bpe.
public sealed partial class ByteLevelBpeTokenizer
{
    /// <summary>Hugging Face's vocabulary file: a JSON object token → id.</summary>
    public const string VocabFileName = "vocab.json";
    /// <summary>Hugging Face's merges file: "left right" per line in rank order after a "#version" line.</summary>
    public const string MergesFileName = "merges.txt";
    /// <summary>OpenAI's GPT-2 release name for the vocabulary file (same format as <see cref="VocabFileName"/>).</summary>
    public const string Gpt2VocabFileName = "encoder.json";
    /// <summary>OpenAI's GPT-2 release name for the merges file (same format as <see cref="MergesFileName"/>).</summary>
    public const string Gpt2MergesFileName = "vocab.bpe";

    /// <summary>Writes vocab.json and merges.txt (Hugging Face's slow-tokenizer layout) and tokenizer.json (its
    /// fast-tokenizer file, which also names the special tokens) into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Indented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            for (int id = 0; id < tokens.Length; id++) writer.WriteNumber(tokens[id], id);
            writer.WriteEndObject();
        }
        AtomicFile.WriteAllBytes(Path.Combine(directory, VocabFileName), json.ToArray());

        var text = new StringBuilder("#version: 0.2\n");
        foreach (var (left, right) in merges) text.Append(left).Append(' ').Append(right).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(directory, MergesFileName), text.ToString());
        SaveHuggingFaceJson(Path.Combine(directory, HuggingFaceFileName));
    }

    /// <summary>Loads vocab.json + merges.txt, or else encoder.json + vocab.bpe, or else tokenizer.json, from
    /// <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidInputException">None of these is there, or a file is malformed.</exception>
    public static ByteLevelBpeTokenizer Load(string directory)
    {
        foreach (var (vocab, mergesFile) in new[] { (VocabFileName, MergesFileName), (Gpt2VocabFileName, Gpt2MergesFileName) })
        {
            string vocabPath = Path.Combine(directory, vocab), mergesPath = Path.Combine(directory, mergesFile);
            if (File.Exists(vocabPath) && File.Exists(mergesPath)) return Load(vocabPath, mergesPath);
        }
        string json = Path.Combine(directory, HuggingFaceFileName);
        if (File.Exists(json)) return LoadHuggingFaceJson(json);
        throw new InvalidInputException(
            $"{directory}: expected BPE files {VocabFileName} + {MergesFileName}, {Gpt2VocabFileName} + {Gpt2MergesFileName}, or {HuggingFaceFileName}");
    }

    /// <summary>Loads a vocabulary JSON file and a merges file (either naming convention).</summary>
    /// <exception cref="InvalidInputException">A file is missing or malformed; the message names the file.</exception>
    public static ByteLevelBpeTokenizer Load(string vocabPath, string mergesPath)
    {
        string[] vocabulary = ReadVocabulary(vocabPath);
        var (merges, lines) = ReadMerges(mergesPath);
        try
        {
            return new ByteLevelBpeTokenizer(vocabulary, merges);
        }
        catch (InvalidDataException e) when (e.Data[MergeRankKey] is int rank)
        {
            throw new InvalidInputException($"{mergesPath}, line {lines[rank]}: {e.Message}", e);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidInputException($"{vocabPath}: {e.Message}", e);
        }
    }

    static string[] ReadVocabulary(string path)
    {
        const string expected = "expected a JSON object mapping each token to its id 0..N-1";
        string text = ReadFile(path);
        JsonFiles.CheckSurrogateEscapes(text.AsSpan(), path);
        JsonDocument document;
        try { document = JsonDocument.Parse(text, JsonFiles.Strict); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: {expected} ({e.Message})", e); }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidInputException($"{path}: {expected}, found a JSON {document.RootElement.ValueKind}");
            var entries = document.RootElement.EnumerateObject().ToList();
            TokenizerFiles.CheckVocabularySize(path, entries.Count);
            var vocabulary = new string?[entries.Count];
            foreach (var entry in entries)
            {
                if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id))
                    throw new InvalidInputException($"{path}: token '{entry.Name}' has id {entry.Value.GetRawText()}; {expected}");
                if ((uint)id >= (uint)entries.Count)
                    throw new InvalidInputException($"{path}: token '{entry.Name}' has id {id}, outside 0..{entries.Count - 1}; {expected}");
                if (vocabulary[id] is { } other)
                    throw new InvalidInputException($"{path}: tokens '{other}' and '{entry.Name}' share id {id}; {expected}");
                vocabulary[id] = entry.Name;
            }
            if (entries.Count == 0) throw new InvalidInputException($"{path}: the vocabulary is empty; {expected}");
            return vocabulary!;
        }
    }

    /// <summary>The merges in rank order and, for error messages, the 1-based file line of each.</summary>
    static ((string, string)[] Merges, int[] Lines) ReadMerges(string path)
    {
        string[] lines = ReadFile(path).Split('\n');
        var merges = new List<(string, string)>(lines.Length);
        var lineNumbers = new List<int>(lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            string[] parts = line.Split(' ');
            if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw new InvalidInputException($"{path}, line {i + 1}: expected a merge of two tokens separated by one space, found '{line}'");
            merges.Add((parts[0], parts[1]));
            lineNumbers.Add(i + 1);
        }
        return (merges.ToArray(), lineNumbers.ToArray());
    }

    static string ReadFile(string path) => TokenizerFiles.ReadText(path);
}
