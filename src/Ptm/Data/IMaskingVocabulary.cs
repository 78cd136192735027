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
    int VocabSize { get; }
    int PadId { get; }
    int ClsId { get; }
    int SepId { get; }
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

    public string Kind { get; }
    public int VocabSize => special.Length;
    public int PadId { get; }
    public int ClsId { get; }
    public int SepId { get; }
    public int MaskId { get; }

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

    public bool IsSpecial(int id) => special[id];
    public bool IsContinuation(int id) => continuation[id];
    public int[] Encode(string text) => encode(text);
    public void Save(string directory) => save(directory);
}
