namespace Ptm.Tokenization;

/// <summary>Loads whichever tokenizer a directory holds, recognised by its file names.</summary>
public static class TokenizerFiles
{
    /// <summary>
    /// Largest tokenizer file read (vocab.json, merges.txt, vocab.txt, tokenizer.json, char_vocab.json): 128 MiB.
    /// The largest published tokenizer.json files are tens of MB; a bigger file is refused before it is read, so a
    /// hostile or mistaken file cannot make a loader allocate gigabytes.
    /// </summary>
    public const long MaxFileBytes = 128L << 20;

    /// <summary>
    /// Largest vocabulary loaded: 10 million tokens, about 40 times the largest in common use (262,144). A file that
    /// lists more is refused before the vocabulary arrays are allocated.
    /// </summary>
    public const int MaxVocabularySize = 10_000_000;

    /// <summary>The text of a tokenizer file, refused with <see cref="InvalidInputException"/> when it is missing,
    /// unreadable or over <see cref="MaxFileBytes"/> (checked before reading).</summary>
    internal static string ReadText(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            CheckSize(path, stream.Length);
            using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidInputException($"{path}: cannot read the file ({e.Message})", e);
        }
    }

    /// <summary>Refuses a file over <see cref="MaxFileBytes"/>.</summary>
    internal static void CheckSize(string path, long length)
    {
        if (length > MaxFileBytes)
            throw new InvalidInputException($"{path}: the file is {length} bytes, over the {MaxFileBytes}-byte limit for tokenizer files (TokenizerFiles.MaxFileBytes)");
    }

    /// <summary>Refuses a vocabulary of more than <see cref="MaxVocabularySize"/> tokens.</summary>
    internal static void CheckVocabularySize(string path, long count)
    {
        if (count > MaxVocabularySize)
            throw new InvalidInputException($"{path}: the vocabulary has {count} tokens, over the limit of {MaxVocabularySize} (TokenizerFiles.MaxVocabularySize)");
    }

    /// <summary>
    /// char_vocab.json → <see cref="CharTokenizer"/>; vocab.json + merges.txt or encoder.json + vocab.bpe, or else a
    /// tokenizer.json whose model is BPE → <see cref="ByteLevelBpeTokenizer"/>; a tokenizer.json whose model is
    /// WordPiece, or else vocab.txt (with an optional tokenizer_config.json) → <see cref="WordPieceTokenizer"/>.
    /// </summary>
    /// <exception cref="InvalidInputException">No tokenizer files, only half a pair, or a malformed file.</exception>
    public static ITokenizer Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new InvalidInputException($"{directory}: tokenizer directory does not exist");

        if (File.Exists(Path.Combine(directory, CharTokenizer.FileName)))
        {
            try { return CharTokenizer.Load(directory); }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException)
            {
                throw new InvalidInputException($"{Path.Combine(directory, CharTokenizer.FileName)}: {e.Message}", e);
            }
        }

        // A BPE tokenizer.json stands in for a missing half of a pair; without one a half pair is an error.
        string hfJson = Path.Combine(directory, WordPieceTokenizer.HuggingFaceFileName);
        string? jsonType = File.Exists(hfJson) ? ModelType(hfJson) : null;
        foreach (var (vocab, merges) in new[]
                 {
                     (ByteLevelBpeTokenizer.VocabFileName, ByteLevelBpeTokenizer.MergesFileName),
                     (ByteLevelBpeTokenizer.Gpt2VocabFileName, ByteLevelBpeTokenizer.Gpt2MergesFileName),
                 })
        {
            bool hasVocab = File.Exists(Path.Combine(directory, vocab)), hasMerges = File.Exists(Path.Combine(directory, merges));
            if (hasVocab && hasMerges) return ByteLevelBpeTokenizer.Load(Path.Combine(directory, vocab), Path.Combine(directory, merges));
            if ((hasVocab || hasMerges) && jsonType != "BPE")
                throw new InvalidInputException($"{directory}: found {(hasVocab ? vocab : merges)} but not {(hasVocab ? merges : vocab)}; a BPE tokenizer needs both");
        }

        // A Hugging Face BERT folder usually has both; tokenizer.json is preferred because it also carries the
        // normaliser options. A tokenizer.json of another model type is not ours to load, so vocab.txt decides.
        // JSON we cannot read counts as WordPiece so that loading it reports the problem.
        if (File.Exists(hfJson) && jsonType is null or "WordPiece") return WordPieceTokenizer.LoadHuggingFaceJson(hfJson);
        if (jsonType == "BPE") return ByteLevelBpeTokenizer.LoadHuggingFaceJson(hfJson);
        if (File.Exists(Path.Combine(directory, WordPieceTokenizer.VocabFileName))) return WordPieceTokenizer.Load(directory);

        string other = File.Exists(hfJson) ? $" ({WordPieceTokenizer.HuggingFaceFileName} has model.type '{jsonType}', which Ptm does not load)" : "";
        throw new InvalidInputException(
            $"{directory}: no tokenizer files{other}; expected {CharTokenizer.FileName}, {ByteLevelBpeTokenizer.VocabFileName} + {ByteLevelBpeTokenizer.MergesFileName}, {ByteLevelBpeTokenizer.Gpt2VocabFileName} + {ByteLevelBpeTokenizer.Gpt2MergesFileName}, {WordPieceTokenizer.VocabFileName}, or a WordPiece or BPE {WordPieceTokenizer.HuggingFaceFileName}");
    }

    /// <summary>A tokenizer.json's model.type, or null when the file is not JSON of the expected shape.</summary>
    static string? ModelType(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            if (stream.Length > MaxFileBytes) return null; // loading it as WordPiece reports the size
            using var document = System.Text.Json.JsonDocument.Parse(stream);
            return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && document.RootElement.TryGetProperty("model", out var model)
                && model.ValueKind == System.Text.Json.JsonValueKind.Object
                && model.TryGetProperty("type", out var type)
                && type.ValueKind == System.Text.Json.JsonValueKind.String
                ? type.GetString() : null;
        }
        // InvalidOperationException: a string that is not valid UTF-8 (found when it is read, not when parsed).
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
