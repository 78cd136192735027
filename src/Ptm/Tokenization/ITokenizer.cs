namespace Ptm.Tokenization;

/// <summary>Turns text into token ids and back. Implementations are immutable and thread-safe.</summary>
public interface ITokenizer
{
    /// <summary>Short name stored in manifests and checkpoints: "char", "bpe" or "wordpiece".</summary>
    string Kind { get; }

/// <summary>How many ids the tokenizer can produce: ids are 0 .. VocabSize - 1.</summary>
    int VocabSize { get; }

    /// <summary>The document separator (GPT-2's &lt;|endoftext|&gt;), if the vocabulary has one.</summary>
    int? EndOfTextId { get; }

/// <summary>The ids of <paramref name="text"/>, without special tokens.</summary>
/// <exception cref="InvalidInputException">The text holds something this vocabulary cannot express (character tokenizer only).</exception>
    int[] Encode(string text);

    /// <summary>The UTF-8 bytes the ids stand for. A byte-level BPE token can hold part of a character, so
    /// streaming decoders work on bytes and emit text only once a character is complete.</summary>
    byte[] DecodeToBytes(ReadOnlySpan<int> ids);

/// <summary>The text the ids stand for; an incomplete UTF-8 sequence at the end decodes to U+FFFD.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>Writes the tokenizer's files into <paramref name="directory"/> (which must exist).</summary>
    void Save(string directory);
}
