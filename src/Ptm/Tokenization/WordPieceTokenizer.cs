using System.Text;

namespace Ptm.Tokenization;

/// <summary>
/// BERT's WordPiece tokenizer (reference: Google BERT's tokenization.py FullTokenizer): text →
/// <see cref="BertBasicTokenizer"/> words → each word split greedily into the longest vocabulary entries from the
/// left, pieces after the first carrying the "##" prefix. A word longer than MaxInputCharsPerWord, or one that
/// cannot be covered completely, becomes [UNK] as a whole. Immutable and thread-safe.
/// </summary>
public sealed partial class WordPieceTokenizer : ITokenizer
{
    /// <summary>Padding, id 0 in vocabularies Ptm trains.</summary>
    public const string PadToken = "[PAD]";
    /// <summary>Stands for a word the vocabulary cannot spell.</summary>
    public const string UnkToken = "[UNK]";
    /// <summary>Starts every sequence; its final hidden state feeds sequence-level heads.</summary>
    public const string ClsToken = "[CLS]";
    /// <summary>Ends each segment of a sequence.</summary>
    public const string SepToken = "[SEP]";
    /// <summary>Marks a position for masked-LM prediction.</summary>
    public const string MaskToken = "[MASK]";

    /// <summary>The special tokens every vocabulary must have, in the order training puts them (ids 0–4).</summary>
    public static IReadOnlyList<string> RequiredSpecialTokens { get; } = new[] { PadToken, UnkToken, ClsToken, SepToken, MaskToken };

    readonly string[] tokens;
    readonly Dictionary<string, int> ids;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> wordInitial;
    // Continuation tokens keyed without their prefix, so a piece can be looked up as a slice of the word.
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> continuation;
    // No vocabulary entry is longer than these, so the greedy search can start there instead of at the word's end.
    readonly int longestInitial, longestContinuation;
    readonly BertBasicTokenizer basic;

    [ThreadStatic] static Workspace? workspace;

    /// <exception cref="ArgumentException">A token is empty or repeated, or a required special token is missing.</exception>
    public WordPieceTokenizer(IReadOnlyList<string> vocabulary, WordPieceSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        Settings = settings ?? new WordPieceSettings();
        if (Settings.ContinuationPrefix.Length == 0) throw new ArgumentException("the continuation prefix must not be empty", nameof(settings));
        if (Settings.MaxInputCharsPerWord < 1) throw new ArgumentException("MaxInputCharsPerWord must be at least 1", nameof(settings));
        if (vocabulary.Count == 0) throw new ArgumentException("the vocabulary is empty", nameof(vocabulary));

        tokens = vocabulary.ToArray();
        ids = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        var continuations = new Dictionary<string, int>(StringComparer.Ordinal);
        string prefix = Settings.ContinuationPrefix;
        for (int id = 0; id < tokens.Length; id++)
        {
            string t = tokens[id];
            if (string.IsNullOrEmpty(t)) throw new ArgumentException($"token id {id} is empty", nameof(vocabulary));
            if (!ids.TryAdd(t, id)) throw new ArgumentException($"token '{t}' appears twice (ids {ids[t]} and {id})", nameof(vocabulary));
            longestInitial = Math.Max(longestInitial, t.Length);
            if (t.Length > prefix.Length && t.StartsWith(prefix, StringComparison.Ordinal))
            {
                continuations.Add(t[prefix.Length..], id);
                longestContinuation = Math.Max(longestContinuation, t.Length - prefix.Length);
            }
        }
        wordInitial = ids.GetAlternateLookup<ReadOnlySpan<char>>();
        continuation = continuations.GetAlternateLookup<ReadOnlySpan<char>>();

        string[] specials = RequiredSpecialTokens.Append(Settings.UnknownToken).Distinct().ToArray();
        string[] missing = specials.Where(s => !ids.ContainsKey(s)).ToArray();
        if (missing.Length > 0)
            throw new ArgumentException($"the vocabulary lacks the special token(s) {string.Join(" ", missing)}", nameof(vocabulary));
        PadId = ids[PadToken];
        UnkId = ids[Settings.UnknownToken];
        ClsId = ids[ClsToken];
        SepId = ids[SepToken];
        MaskId = ids[MaskToken];
        basic = new BertBasicTokenizer(Settings.DoLowerCase, Settings.StripAccents, Settings.TokenizeChineseChars, Settings.CleanText, specials);
    }

    /// <inheritdoc />
    public string Kind => "wordpiece";
    /// <inheritdoc />
    public int VocabSize => tokens.Length;
    /// <inheritdoc />
    public int? EndOfTextId => null;
    /// <summary>The options the tokenizer was built with (Hugging Face's BertTokenizer names).</summary>
    public WordPieceSettings Settings { get; }
    /// <summary>Whether text is lower-cased (and, unless <see cref="WordPieceSettings.StripAccents"/> says otherwise, accents stripped) before WordPiece.</summary>
    public bool DoLowerCase => Settings.DoLowerCase;
    /// <summary>The id of <see cref="PadToken"/>.</summary>
    public int PadId { get; }
    /// <summary>The id of <see cref="WordPieceSettings.UnknownToken"/>.</summary>
    public int UnkId { get; }
    /// <summary>The id of <see cref="ClsToken"/>.</summary>
    public int ClsId { get; }
    /// <summary>The id of <see cref="SepToken"/>.</summary>
    public int SepId { get; }
    /// <summary>The id of <see cref="MaskToken"/>.</summary>
    public int MaskId { get; }
    /// <summary>The tokens in id order.</summary>
    public IReadOnlyList<string> Vocabulary => tokens;
    /// <summary>The pre-tokenizer (cleaning, casing, punctuation and CJK splits) that runs before WordPiece.</summary>
    public BertBasicTokenizer BasicTokenizer => basic;

    /// <exception cref="ArgumentOutOfRangeException">The id is outside the vocabulary.</exception>
    public string TokenText(int id) => (uint)id < (uint)tokens.Length ? tokens[id]
        : throw new ArgumentOutOfRangeException(nameof(id), $"token id {id} is outside the vocabulary [0, {tokens.Length})");

    /// <summary>The id of <paramref name="token"/> (exact, case-sensitive), if the vocabulary has it.</summary>
    public bool TryGetId(string token, out int id) => ids.TryGetValue(token, out id);

    /// <summary>Token ids for <paramref name="text"/>, without [CLS]/[SEP].</summary>
    public int[] Encode(string text)
    {
        var result = new List<int>(text.Length / 3 + 4);
        EncodeCore(text, result, null);
        return result.ToArray();
    }

    /// <summary>Token ids for <paramref name="text"/> (without [CLS]/[SEP]) and, per token, the span of
    /// <paramref name="text"/> it came from. A [UNK] covers its whole word.</summary>
    public (int[] Ids, CharSpan[] Offsets) EncodeWithOffsets(string text)
    {
        var result = new List<int>(text.Length / 3 + 4);
        var offsets = new List<CharSpan>(text.Length / 3 + 4);
        EncodeCore(text, result, offsets);
        return (result.ToArray(), offsets.ToArray());
    }

    void EncodeCore(string text, List<int> output, List<CharSpan>? offsets)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ws = workspace ??= new Workspace();
        basic.Tokenize(text, ws.Text, ws.Words);
        foreach (var (start, length) in ws.Words)
            EncodeWord(ws.Text, start, length, output, offsets);
    }

    /// <summary>Greedy longest-match-first over one word (tokenization.py's WordpieceTokenizer.tokenize). Works on
    /// code points: a piece never ends between the two halves of a surrogate pair.</summary>
    void EncodeWord(OffsetText text, int start, int length, List<int> output, List<CharSpan>? offsets)
    {
        ReadOnlySpan<char> word = text.Slice(start, length);
        int firstOutput = output.Count;
        int max = Settings.MaxInputCharsPerWord;
        if (word.Length <= max || CodePointCount(word) <= max)
        {
            int pieceStart = 0;
            while (pieceStart < word.Length)
            {
                bool first = pieceStart == 0;
                var lookup = first ? wordInitial : continuation;
                int end = Math.Min(word.Length, pieceStart + (first ? longestInitial : longestContinuation));
                int found = -1;
                for (; end > pieceStart; end--)
                {
                    if (end < word.Length && char.IsLowSurrogate(word[end]) && char.IsHighSurrogate(word[end - 1])) continue;
                    if (lookup.TryGetValue(word[pieceStart..end], out found)) break;
                    found = -1;
                }
                if (found < 0)
                {
                    output.RemoveRange(firstOutput, output.Count - firstOutput);
                    offsets?.RemoveRange(firstOutput, offsets.Count - firstOutput);
                    break;
                }
                output.Add(found);
                offsets?.Add(new CharSpan(text.StartOf(start + pieceStart), text.EndOf(start + end - 1)));
                pieceStart = end;
            }
            if (pieceStart == word.Length) return;
        }
        output.Add(UnkId);
        offsets?.Add(new CharSpan(text.StartOf(start), text.EndOf(start + length - 1)));
    }

    static int CodePointCount(ReadOnlySpan<char> s)
    {
        int count = 0;
        for (int i = 0; i < s.Length; i++, count++)
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) i++;
        return count;
    }

    /// <inheritdoc />
    public byte[] DecodeToBytes(ReadOnlySpan<int> ids) => Encoding.UTF8.GetBytes(Decode(ids));

    /// <summary>
    /// A simple detokenisation: pieces with the continuation prefix are glued to the previous token (prefix removed),
    /// other tokens, special ones included, are separated by one space. This is Hugging Face's
    /// convert_tokens_to_string without its clean-up of spaces before punctuation, so "a , b" stays as is; lower-casing,
    /// removed accents and original whitespace cannot be recovered.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id is outside the vocabulary.</exception>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder(ids.Length * 4);
        string prefix = Settings.ContinuationPrefix;
        foreach (int id in ids)
        {
            string t = TokenText(id);
            if (sb.Length > 0 && t.Length > prefix.Length && t.StartsWith(prefix, StringComparison.Ordinal))
                sb.Append(t, prefix.Length, t.Length - prefix.Length);
            else
            {
                if (sb.Length > 0) sb.Append(' ');
                sb.Append(t);
            }
        }
        return sb.ToString();
    }

    /// <summary>Per-thread scratch buffers, so encoding allocates little and the tokenizer stays thread-safe.</summary>
    sealed class Workspace
    {
        public readonly OffsetText Text = new();
        public readonly List<(int Start, int Length)> Words = new();
    }
}
