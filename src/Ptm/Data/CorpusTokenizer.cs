using Ptm.Tokenization;

namespace Ptm.Data;

/// <summary>Builds the tokenizer a run asks for from the training split of its corpus.</summary>
public static class CorpusTokenizer
{
    /// <summary>The document separator token added to trained byte-level BPE vocabularies (GPT-2's spelling).</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Trains a <paramref name="kind"/> tokenizer on the corpus's training split: "bpe" is byte-level BPE of at most
    /// <paramref name="vocabSize"/> ids, <see cref="EndOfText"/> last; "char" is one id per character of both splits,
    /// <paramref name="vocabSize"/> ignored.</summary>
    /// <exception cref="InvalidInputException"><paramref name="kind"/> is neither "bpe" nor "char", or "bpe" finds no text to learn from.</exception>
    /// <exception cref="ArgumentException">"bpe" with <paramref name="vocabSize"/> below 257, or "char" with empty text.</exception>
    public static ITokenizer Train(string kind, int vocabSize, Corpus corpus) => kind switch
    {
        // The alphabet covers the validation text too, or it could not be encoded; nothing else is learned from it.
        "char" => CharTokenizer.Train(string.Concat(corpus.Train.Select(d => d.Text)) + string.Concat(corpus.Validation.Select(d => d.Text))),
        "bpe" => ByteLevelBpeTokenizer.Train(corpus.Train.Select(d => d.Text), vocabSize, [EndOfText]),
        _ => throw new InvalidInputException($"tokenizer kind must be \"bpe\" or \"char\" (got \"{kind}\")"),
    };

    /// <summary>
    /// Reads a corpus spec. A folder holding train.txt and validation.txt (like data/kjv) uses those as its
    /// splits; anything else holds out <paramref name="validationFraction"/> of its documents.
    /// </summary>
    public static CorpusOptions Options(string spec, string? validationSpec, double validationFraction, ulong seed)
    {
        if (validationSpec is null && Directory.Exists(spec)
            && File.Exists(Path.Combine(spec, "train.txt")) && File.Exists(Path.Combine(spec, "validation.txt")))
            return new CorpusOptions(Path.Combine(spec, "train.txt"), Path.Combine(spec, "validation.txt"), validationFraction, seed);
        return new CorpusOptions(spec, validationSpec, validationFraction, seed);
    }
}
