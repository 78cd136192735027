using Ptm.Tokenization;

namespace Ptm.FineTuning;

/// <summary>
/// What differs between the families in tagging and span-QA inputs: the tokenizer (a word's pieces, a text's pieces
/// with character offsets) and the three special tokens that frame a sequence. Everything else (label placement,
/// windows, answer positions, decoding) is shared by <see cref="TagEncoding"/>, <see cref="SpanEncoding"/> and
/// <see cref="SpanDecoder"/>.
/// </summary>
public interface ITokenTaskFraming
{
    /// <summary>First token of every sequence: BERT's [CLS], GPT-1's start token.</summary>
    int Open { get; }

    /// <summary>Between question and context: BERT's [SEP], GPT-1's delimiter.</summary>
    int Separator { get; }

    /// <summary>Last token of every sequence: BERT's [SEP], GPT-1's extract token.</summary>
    int Close { get; }

    /// <summary>Whether the context is marked with segment id 1 (BERT); GPT has no segment embeddings.</summary>
    bool SegmentIds { get; }

    /// <summary>The pieces of word <paramref name="index"/> of a sentence given as words.</summary>
    int[] WordPieces(IReadOnlyList<string> words, int index);

    /// <summary>The pieces of a running text (a question).</summary>
    int[] Encode(string text);

    /// <summary>The pieces of a running text (a context) with each piece's character span in it.</summary>
    (int[] Ids, CharSpan[] Offsets) EncodeWithOffsets(string text);
}

/// <summary>BERT (Devlin et al. 2018): <c>[CLS] … [SEP] … [SEP]</c>, context in segment 1; each word is tokenised on its own
/// (WordPiece ignores the spaces between words anyway).</summary>
public sealed class BertTokenFraming(WordPieceTokenizer tokenizer) : ITokenTaskFraming
{
    /// <inheritdoc />
    public int Open => tokenizer.ClsId;
    /// <inheritdoc />
    public int Separator => tokenizer.SepId;
    /// <inheritdoc />
    public int Close => tokenizer.SepId;
    /// <inheritdoc />
    public bool SegmentIds => true;
    /// <inheritdoc />
    public int[] WordPieces(IReadOnlyList<string> words, int index) => tokenizer.Encode(words[index]);
    /// <inheritdoc />
    public int[] Encode(string text) => tokenizer.Encode(text);
    /// <inheritdoc />
    public (int[] Ids, CharSpan[] Offsets) EncodeWithOffsets(string text) => tokenizer.EncodeWithOffsets(text);
}

/// <summary>
/// GPT-1's task tokens (Radford et al. 2018, §3.3): <c>&lt;|start|&gt; … &lt;|delim|&gt; … &lt;|extract|&gt;</c>.
/// GPT-2's byte-level BPE spells a word differently with and without the space before it (" light" vs "light"), and
/// in running text every word but the first comes with one. So word 0 is tokenised as it is and every later word
/// with one space in front: the pieces of all words together are then exactly the tokens of the words joined by single
/// spaces, the text the model saw in pre-training (Hugging Face's <c>is_split_into_words</c> adds the space to the first
/// word as well when <c>add_prefix_space</c> is set; we do not, as the sentence starts right after the start token).
/// </summary>
public sealed class GptTokenFraming(ByteLevelBpeTokenizer tokenizer, GptTaskTokens tokens) : ITokenTaskFraming
{
    /// <inheritdoc />
    public int Open => tokens.Start;
    /// <inheritdoc />
    public int Separator => tokens.Delimiter;
    /// <inheritdoc />
    public int Close => tokens.Extract;
    /// <inheritdoc />
    public bool SegmentIds => false;
    /// <inheritdoc />
    public int[] WordPieces(IReadOnlyList<string> words, int index) =>
        words[index].Length == 0 ? [] : tokenizer.Encode(index == 0 ? words[0] : " " + words[index]);
    /// <inheritdoc />
    public int[] Encode(string text) => tokenizer.Encode(text);
    /// <inheritdoc />
    public (int[] Ids, CharSpan[] Offsets) EncodeWithOffsets(string text) => tokenizer.EncodeWithOffsets(text);
}
