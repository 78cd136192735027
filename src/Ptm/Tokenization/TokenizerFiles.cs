namespace Ptm.Tokenization;

/// <summary>Loads whichever tokenizer a directory holds, recognised by its file names.</summary>
public static class TokenizerFiles
{
    /// <summary>
    /// char_vocab.json → <see cref="CharTokenizer"/>; vocab.json + merges.txt or encoder.json + vocab.bpe →
    /// <see cref="ByteLevelBpeTokenizer"/>.
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

        throw new InvalidInputException(
            $"{directory}: no tokenizer files; expected {CharTokenizer.FileName}, {ByteLevelBpeTokenizer.VocabFileName} + {ByteLevelBpeTokenizer.MergesFileName}, or {ByteLevelBpeTokenizer.Gpt2VocabFileName} + {ByteLevelBpeTokenizer.Gpt2MergesFileName}");
    }
}
