namespace Ptm.Tokenization;

/// <summary>Loads whichever tokenizer a directory holds, recognised by its file names.</summary>
public static class TokenizerFiles
{
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
            using var document = System.Text.Json.JsonDocument.Parse(stream);
            return document.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && document.RootElement.TryGetProperty("model", out var model)
                && model.ValueKind == System.Text.Json.JsonValueKind.Object
                && model.TryGetProperty("type", out var type)
                && type.ValueKind == System.Text.Json.JsonValueKind.String
                ? type.GetString() : null;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
