using System.Buffers;
using System.Collections.Concurrent;
using System.Text;

namespace Ptm.Tokenization;

/// <summary>
/// GPT-2's byte-level BPE: text → UTF-8 bytes → pre-tokens (GPT-2's pattern) → merges applied by rank within each
/// pre-token. Special tokens (e.g. &lt;|endoftext|&gt;) are matched literally in the text first and never merged.
/// Any byte sequence can be encoded, so unlike <see cref="CharTokenizer"/> no text is out of vocabulary.
/// </summary>
public sealed partial class ByteLevelBpeTokenizer : ITokenizer
{
    /// <summary>GPT-2's document separator token.</summary>
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Pre-tokens longer than this are not cached: they are rare and would bloat the cache.</summary>
    const int MaxCachedPieceLength = 64;
    /// <summary>Bounds the cache's memory on huge, varied corpora; frequent words are cached first anyway.</summary>
    const int MaxCacheEntries = 200_000;
    /// <summary>Pieces up to this many UTF-8 bytes are worked on in stack buffers.</summary>
    const int StackBytes = 256;

    readonly string[] tokens;            // id → token as written in the vocabulary (byte alphabet, or a special's literal)
    readonly byte[][] tokenBytes;        // id → the bytes it decodes to
    readonly Dictionary<string, int> idsByToken;
    readonly (string Left, string Right)[] merges;
    readonly BpeMergeTable mergeTable;
    readonly int[] byteIds = new int[256];
    readonly string[] specialTokens;     // in id order
    readonly int[] specialIds;
    readonly ConcurrentDictionary<string, int[]> cache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> cacheBySpan;
    int cacheEntries;

    /// <summary>
    /// Builds a tokenizer from a vocabulary in id order and merges in rank order. When
    /// <paramref name="specialTokens"/> is null, every vocabulary entry that is neither a single byte nor produced
    /// by a merge is treated as special (that is how GPT-2's &lt;|endoftext|&gt; sits in encoder.json).
    /// </summary>
    /// <exception cref="InvalidDataException">The vocabulary and merges do not fit together.</exception>
    public ByteLevelBpeTokenizer(IReadOnlyList<string> vocabulary, IReadOnlyList<(string Left, string Right)> merges,
        IEnumerable<string>? specialTokens = null)
    {
        tokens = vocabulary.ToArray();
        this.merges = merges.ToArray();
        idsByToken = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        for (int id = 0; id < tokens.Length; id++)
        {
            if (tokens[id].Length == 0) throw new InvalidDataException($"token id {id} is an empty string");
            if (!idsByToken.TryAdd(tokens[id], id))
                throw new InvalidDataException($"token '{tokens[id]}' appears twice (ids {idsByToken[tokens[id]]} and {id})");
        }

        for (int b = 0; b < 256; b++)
        {
            string symbol = ByteLevelAlphabet.ToChar((byte)b).ToString();
            if (!idsByToken.TryGetValue(symbol, out byteIds[b]))
                throw new InvalidDataException($"the vocabulary has no token for byte 0x{b:X2} ('{symbol}'); a byte-level vocabulary needs all 256");
        }

        mergeTable = new BpeMergeTable(this.merges.Length);
        var reachable = new HashSet<int>(byteIds);
        for (int rank = 0; rank < this.merges.Length; rank++)
        {
            var (left, right) = this.merges[rank];
            int leftId = MergePartId(left, rank), rightId = MergePartId(right, rank);
            if (!idsByToken.TryGetValue(left + right, out int result))
                throw BadMerge(rank, $"merge {rank + 1} '{left} {right}' produces '{left + right}', which is not in the vocabulary");
            mergeTable.TryAdd(leftId, rightId, rank, result);
            reachable.Add(result);
        }

        var specials = specialTokens is null
            ? Enumerable.Range(0, tokens.Length).Where(id => !reachable.Contains(id)).ToArray()
            : specialTokens.Select(s => idsByToken.TryGetValue(s, out int id) ? id
                : throw new InvalidDataException($"special token '{s}' is not in the vocabulary")).Distinct().Order().ToArray();
        specialIds = specials;
        this.specialTokens = specials.Select(id => tokens[id]).ToArray();

        tokenBytes = new byte[tokens.Length][];
        var specialSet = new HashSet<int>(specials);
        for (int id = 0; id < tokens.Length; id++)
        {
            tokenBytes[id] = specialSet.Contains(id) ? Encoding.UTF8.GetBytes(tokens[id])
                : ByteLevelAlphabet.Unspell(tokens[id])
                  ?? throw new InvalidDataException($"token id {id} '{tokens[id]}' has characters outside GPT-2's byte alphabet and is not a special token");
        }
        EndOfTextId = idsByToken.TryGetValue(EndOfText, out int eot) && specialSet.Contains(eot) ? eot : null;
        cacheBySpan = cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>
    /// Learns a vocabulary of <paramref name="vocabSize"/> tokens: the 256 bytes (ids 0..255, in byte order), then
    /// one token per merge in the order learned, then <paramref name="specialTokens"/> at the end (as GPT-2 puts
    /// &lt;|endoftext|&gt; last). The most frequent adjacent pair is merged first; equal counts go to the pair whose
    /// strings sort first (ordinal), so the same input always gives the same files. Stops early if no pair is left.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="vocabSize"/> is below 256 + the number of special tokens.</exception>
    /// <exception cref="InvalidInputException">The texts contain no characters to learn from.</exception>
    public static ByteLevelBpeTokenizer Train(IEnumerable<string> texts, int vocabSize, IReadOnlyList<string> specialTokens) =>
        BpeTrainer.Train(texts, vocabSize, specialTokens);

    int MergePartId(string part, int rank) => idsByToken.TryGetValue(part, out int id) ? id
        : throw BadMerge(rank, $"merge {rank + 1} uses '{part}', which is not in the vocabulary");

    /// <summary>Key in <see cref="Exception.Data"/> holding the 0-based rank of the offending merge, so a
    /// loader can name the line of the merges file.</summary>
    internal const string MergeRankKey = "MergeRank";

    static InvalidDataException BadMerge(int rank, string message)
    {
        var e = new InvalidDataException(message);
        e.Data[MergeRankKey] = rank;
        return e;
    }

    /// <inheritdoc />
    public string Kind => "bpe";
    /// <inheritdoc />
    public int VocabSize => tokens.Length;
    /// <inheritdoc />
    public int? EndOfTextId { get; }

    /// <summary>Merges in rank order (as written to merges.txt).</summary>
    public IReadOnlyList<(string Left, string Right)> Merges => merges;

    /// <summary>Tokens matched literally in the text before pre-tokenization, in id order.</summary>
    public IReadOnlyList<string> SpecialTokens => specialTokens;

    /// <summary>The token as written in the vocabulary file (GPT-2's byte alphabet, e.g. "Ġthe" for " the").</summary>
    public string TokenText(int id) => tokens[CheckId(id)];

    /// <inheritdoc />
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        EncodeCore(text, ids, null);
        return ids.ToArray();
    }

    /// <summary>
    /// Encodes as <see cref="Encode"/> does but with BPE-dropout (Provilkov et al., 2020; the <c>dropout</c> field of a
    /// Hugging Face BPE model): within each pre-token every applicable merge is skipped with probability
    /// <paramref name="dropout"/> at every step, so a word comes out in one of its finer segmentations, drawn from
    /// <paramref name="random"/>. Meant for training data; 0 gives <see cref="Encode"/>'s ids, 1 the bytes alone.
    /// Special tokens are matched as usual.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="dropout"/> is outside [0, 1].</exception>
    public int[] EncodeWithDropout(string text, double dropout, Random random)
    {
        if (dropout is not (>= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(dropout), dropout, "must be in [0, 1]");
        var ids = new List<int>(text.Length / 2 + 4);
        EncodeCore(text, ids, null, dropout > 0 ? (dropout, random) : null);
        return ids.ToArray();
    }

    void EncodeCore(string text, List<int> ids, List<CharSpan>? offsets, (double Rate, Random Random)? dropout = null)
    {
        int position = 0;
        var nextSpecial = new int[specialTokens.Length];
        Array.Fill(nextSpecial, -2);   // -2: not searched yet; -1: no further occurrence
        while (position < text.Length)
        {
            int at = FindNextSpecial(text, position, nextSpecial, out int which);
            EncodeOrdinary(text, position, (at < 0 ? text.Length : at) - position, ids, offsets, dropout);
            if (at < 0) break;
            ids.Add(specialIds[which]);
            offsets?.Add(new CharSpan(at, at + specialTokens[which].Length));
            position = at + specialTokens[which].Length;
        }
    }

    /// <summary>Earliest special token at or after <paramref name="position"/>; the longest wins a tie.</summary>
    int FindNextSpecial(string text, int position, int[] next, out int which)
    {
        which = -1;
        int best = -1;
        for (int s = 0; s < specialTokens.Length; s++)
        {
            if (next[s] == -2 || (next[s] >= 0 && next[s] < position))
                next[s] = text.IndexOf(specialTokens[s], position, StringComparison.Ordinal);
            if (next[s] < 0) continue;
            if (best < 0 || next[s] < best || (next[s] == best && specialTokens[s].Length > specialTokens[which].Length))
            {
                best = next[s];
                which = s;
            }
        }
        return best;
    }

    void EncodeOrdinary(string text, int start, int count, List<int> ids, List<CharSpan>? offsets, (double Rate, Random Random)? dropout)
    {
        var span = text.AsSpan(start, count);
        int i = 0;
        while (i < span.Length)
        {
            int length = Gpt2PreTokenizer.PieceLength(span, i);
            int[] pieceIds = EncodePiece(span.Slice(i, length), dropout);
            ids.AddRange(pieceIds);
            if (offsets is not null) AddPieceOffsets(text, start + i, length, pieceIds, offsets);
            i += length;
        }
    }

    // Skipping the zeroing of the stack buffers matters here: this runs once per distinct pre-token.
    [System.Runtime.CompilerServices.SkipLocalsInit]
    int[] EncodePiece(ReadOnlySpan<char> piece, (double Rate, Random Random)? dropout)
    {
        if (dropout is null && cacheBySpan.TryGetValue(piece, out int[]? cached)) return cached;

        int maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
        byte[]? rentedBytes = maxBytes > StackBytes ? ArrayPool<byte>.Shared.Rent(maxBytes) : null;
        int[]? rentedSymbols = maxBytes > StackBytes ? ArrayPool<int>.Shared.Rent(maxBytes) : null;
        try
        {
            Span<byte> bytes = rentedBytes ?? stackalloc byte[StackBytes];
            Span<int> symbols = rentedSymbols ?? stackalloc int[StackBytes];
            int count = Encoding.UTF8.GetBytes(piece, bytes);
            for (int k = 0; k < count; k++) symbols[k] = byteIds[bytes[k]];
            if (dropout is var (rate, random))
                return symbols[..mergeTable.ApplyWithDropout(symbols, count, rate, random)].ToArray(); // a draw, never cached
            int[] result = symbols[..mergeTable.Apply(symbols, count)].ToArray();
            // ConcurrentDictionary.Count takes every lock, so keep our own (approximate under races) count.
            if (piece.Length <= MaxCachedPieceLength && Volatile.Read(ref cacheEntries) < MaxCacheEntries && cacheBySpan.TryAdd(piece, result))
                Interlocked.Increment(ref cacheEntries);
            return result;
        }
        finally
        {
            if (rentedBytes is not null) ArrayPool<byte>.Shared.Return(rentedBytes);
            if (rentedSymbols is not null) ArrayPool<int>.Shared.Return(rentedSymbols);
        }
    }

    /// <inheritdoc />
    public byte[] DecodeToBytes(ReadOnlySpan<int> ids)
    {
        int total = 0;
        foreach (int id in ids) total += tokenBytes[CheckId(id)].Length;
        var result = new byte[total];
        int offset = 0;
        foreach (int id in ids)
        {
            tokenBytes[id].CopyTo(result, offset);
            offset += tokenBytes[id].Length;
        }
        return result;
    }

    /// <summary>UTF-8 decode of <see cref="DecodeToBytes"/>; an incomplete or invalid sequence becomes U+FFFD, as
    /// GPT-2's decode(errors="replace") does.</summary>
    /// <inheritdoc />
    public string Decode(ReadOnlySpan<int> ids) => Encoding.UTF8.GetString(DecodeToBytes(ids));

    int CheckId(int id) => (uint)id < (uint)tokens.Length ? id
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is outside the vocabulary [0, {tokens.Length})");
}

