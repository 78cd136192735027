namespace Ptm.Tokenization;

/// <summary>Loads whichever tokenizer a directory holds, recognised by its file names.</summary>
public static class TokenizerFiles
{
    /// <summary>
    /// char_vocab.json → <see cref="CharTokenizer"/>; vocab.json + merges.txt or encoder.json + vocab.bpe →
    /// <see cref="ByteLevelBpeTokenizer"/>; a tokenizer.json whose model is WordPiece, or else vocab.txt (with an
    /// optional tokenizer_config.json) → <see cref="WordPieceTokenizer"/>.
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

        foreach (var (vocab, merges) in new[]
                 {
                     (ByteLevelBpeTokenizer.VocabFileName, ByteLevelBpeTokenizer.MergesFileName),
                     (ByteLevelBpeTokenizer.Gpt2VocabFileName, ByteLevelBpeTokenizer.Gpt2MergesFileName),
                 })
        {
            bool hasVocab = File.Exists(Path.Combine(directory, vocab)), hasMerges = File.Exists(Path.Combine(directory, merges));
            if (hasVocab && hasMerges) return ByteLevelBpeTokenizer.Load(Path.Combine(directory, vocab), Path.Combine(directory, merges));
            if (hasVocab || hasMerges)
                throw new InvalidInputException($"{directory}: found {(hasVocab ? vocab : merges)} but not {(hasVocab ? merges : vocab)}; a BPE tokenizer needs both");
        }

        // A Hugging Face BERT folder usually has both; tokenizer.json is preferred because it also carries the
        // normaliser options. A tokenizer.json of another model type is not ours to load, so vocab.txt decides.
        string hfJson = Path.Combine(directory, WordPieceTokenizer.HuggingFaceFileName);
        if (File.Exists(hfJson) && IsWordPieceJson(hfJson)) return WordPieceTokenizer.LoadHuggingFaceJson(hfJson);
        if (File.Exists(Path.Combine(directory, WordPieceTokenizer.VocabFileName))) return WordPieceTokenizer.Load(directory);

        throw new InvalidInputException(
            $"{directory}: no tokenizer files; expected {CharTokenizer.FileName}, {ByteLevelBpeTokenizer.VocabFileName} + {ByteLevelBpeTokenizer.MergesFileName}, {ByteLevelBpeTokenizer.Gpt2VocabFileName} + {ByteLevelBpeTokenizer.Gpt2MergesFileName}, {WordPieceTokenizer.VocabFileName}, or a WordPiece {WordPieceTokenizer.HuggingFaceFileName}");
    }

    /// <summary>Whether a tokenizer.json declares a WordPiece model; unreadable JSON counts as yes so that loading
    /// it reports the problem.</summary>
    static bool IsWordPieceJson(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var document = System.Text.Json.JsonDocument.Parse(stream);
            return document.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object
                || !document.RootElement.TryGetProperty("model", out var model)
                || model.ValueKind != System.Text.Json.JsonValueKind.Object
                || !model.TryGetProperty("type", out var type)
                || type.ValueKind != System.Text.Json.JsonValueKind.String
                || type.GetString() == "WordPiece";
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException or UnauthorizedAccessException)
        {
            return true;
        }
    }
}
