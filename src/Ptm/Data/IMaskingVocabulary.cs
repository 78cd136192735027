using Ptm.Tokenization;

namespace Ptm.Data;

/// <summary>
/// What BERT pre-training data needs from a vocabulary: the special ids that build <c>[CLS] A [SEP] B [SEP]</c>,
/// which ids may never be masked, and which ids continue a word (WordPiece <c>##</c> pieces) for whole-word masking.
/// Implementations must be immutable and thread-safe (documents are encoded in parallel).
/// </summary>
public interface IMaskingVocabulary
{
    /// <summary>Short name stored in the manifest, e.g. "wordpiece".</summary>
    string Kind { get; }
    /// <summary>Number of ids; every id is in [0, VocabSize).</summary>
    int VocabSize { get; }
    /// <summary>Id of [PAD], which fills rows past an instance's length.</summary>
    int PadId { get; }
    /// <summary>Id of [CLS], the first token of every instance.</summary>
    int ClsId { get; }
    /// <summary>Id of [SEP], which ends each segment.</summary>
    int SepId { get; }
    /// <summary>Id of [MASK], the replacement for 80% of the chosen positions.</summary>
    int MaskId { get; }
    /// <summary>True for ids that are never chosen for masking nor used as random replacements ([CLS], [SEP], [PAD], [MASK], [UNK], ...).</summary>
    bool IsSpecial(int id);
    /// <summary>True for a piece that continues the previous token's word (WordPiece "##..."), for whole-word masking.</summary>
    bool IsContinuation(int id);
    /// <summary>Encodes one sentence, without any special tokens.</summary>
    int[] Encode(string text);
    /// <summary>Writes the tokenizer's own files into <paramref name="directory"/> (which exists), so the data folder is self-contained.</summary>
    void Save(string directory);
}

/// <summary>
/// Adapts any <see cref="ITokenizer"/> that can name its tokens, so wiring a WordPiece tokenizer is one line:
/// <code>var vocab = MaskingVocabulary.FromTokenizer(wp, wp.PadId, wp.ClsId, wp.SepId, wp.MaskId, wp.TokenText);</code>
/// Special = one of the four given ids or any token written in brackets (<c>[UNK]</c>, <c>[unused7]</c>);
/// continuation = a token whose text starts with <c>##</c>. Both are computed once, at construction.
/// </summary>
public sealed class MaskingVocabulary : IMaskingVocabulary
{
    readonly bool[] special;
    readonly bool[] continuation;
    readonly Func<string, int[]> encode;
    readonly Action<string> save;

    /// <inheritdoc />
    public string Kind { get; }
    /// <inheritdoc />
    public int VocabSize => special.Length;
    /// <inheritdoc />
    public int PadId { get; }
    /// <inheritdoc />
    public int ClsId { get; }
    /// <inheritdoc />
    public int SepId { get; }
    /// <inheritdoc />
    public int MaskId { get; }

    /// <summary>Builds the view from every token's text (index = id); <paramref name="encode"/> and <paramref name="save"/>
    /// back <see cref="Encode"/> and <see cref="Save"/>, and must be thread-safe.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A special id is outside [0, tokenTexts.Count).</exception>
    public MaskingVocabulary(string kind, int padId, int clsId, int sepId, int maskId, IReadOnlyList<string> tokenTexts,
        Func<string, int[]> encode, Action<string> save)
    {
        int n = tokenTexts.Count;
        foreach (var (name, id) in new[] { ("pad", padId), ("cls", clsId), ("sep", sepId), ("mask", maskId) })
            if ((uint)id >= (uint)n) throw new ArgumentOutOfRangeException(name + "Id", $"{name} id {id} is outside the vocabulary [0, {n})");
        Kind = kind;
        (PadId, ClsId, SepId, MaskId) = (padId, clsId, sepId, maskId);
        special = new bool[n];
        continuation = new bool[n];
        for (int i = 0; i < n; i++)
        {
            string t = tokenTexts[i];
            special[i] = i == padId || i == clsId || i == sepId || i == maskId || (t.Length > 2 && t[0] == '[' && t[^1] == ']');
            continuation[i] = !special[i] && t.StartsWith("##", StringComparison.Ordinal) && t.Length > 2;
        }
        this.encode = encode;
        this.save = save;
    }

    /// <summary>The view of <paramref name="tokenizer"/>, with <paramref name="tokenText"/> naming each id in [0, VocabSize).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A special id is outside the vocabulary.</exception>
    public static MaskingVocabulary FromTokenizer(ITokenizer tokenizer, int padId, int clsId, int sepId, int maskId, Func<int, string> tokenText) =>
        new(tokenizer.Kind, padId, clsId, sepId, maskId,
            Enumerable.Range(0, tokenizer.VocabSize).Select(tokenText).ToArray(), tokenizer.Encode, tokenizer.Save);

    /// <summary>The masking view of a WordPiece vocabulary: its [PAD], [CLS], [SEP] and [MASK] ids, bracketed tokens
    /// as specials and ##-pieces as word continuations (for whole-word masking). This is what BERT preparation and
    /// dynamic masking use.</summary>
    public static MaskingVocabulary FromWordPiece(WordPieceTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return FromTokenizer(tokenizer, tokenizer.PadId, tokenizer.ClsId, tokenizer.SepId, tokenizer.MaskId, tokenizer.TokenText);
    }

    /// <inheritdoc />
    public bool IsSpecial(int id) => special[id];
    /// <inheritdoc />
    public bool IsContinuation(int id) => continuation[id];
    /// <inheritdoc />
    public int[] Encode(string text) => encode(text);
    /// <inheritdoc />
    public void Save(string directory) => save(directory);
}
