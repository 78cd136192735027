using System.Text;

namespace Ptm.Tokenization;

// Character offsets of byte-level BPE tokens, for tasks that must point back into the original text (span QA).
public sealed partial class ByteLevelBpeTokenizer
{
    /// <summary>
    /// Token ids for <paramref name="text"/> and, per token, the span of <paramref name="text"/> it came from. A token
    /// that holds only some bytes of a character (byte-level BPE can split a multi-byte character) covers that whole
    /// character. GPT-2 keeps a word's leading space inside the word's first token (" light"); the span leaves such
    /// surrounding whitespace out (Hugging Face's trim_offsets), so the span of " light" is just "light" and an answer
    /// read back from offsets never starts with a space. A token of whitespace only keeps its whole span.
    /// </summary>
    public (int[] Ids, CharSpan[] Offsets) EncodeWithOffsets(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        var offsets = new List<CharSpan>(text.Length / 3 + 4);
        EncodeCore(text, ids, offsets);
        return (ids.ToArray(), offsets.ToArray());
    }

    void AddPieceOffsets(string text, int start, int length, int[] pieceIds, List<CharSpan> offsets)
    {
        int byteCount = 0;
        foreach (int id in pieceIds) byteCount += tokenBytes[id].Length;
        // For every UTF-8 byte of the piece, the UTF-16 range of the character it encodes. A lone surrogate becomes
        // U+FFFD's three bytes, exactly as Encoding.UTF8 turned it into bytes for the merges.
        var from = new int[byteCount];
        var to = new int[byteCount];
        int b = 0;
        for (int c = start; c < start + length;)
        {
            Rune.DecodeFromUtf16(text.AsSpan(c, start + length - c), out Rune rune, out int width);
            for (int k = 0; k < rune.Utf8SequenceLength; k++, b++)
            {
                from[b] = c;
                to[b] = c + width;
            }
            c += width;
        }
        if (b != byteCount) throw new InvalidOperationException($"byte-level BPE offsets: {b} bytes for tokens of {byteCount}");
        int at = 0;
        foreach (int id in pieceIds)
        {
            int n = tokenBytes[id].Length;
            offsets.Add(TrimWhitespace(text, new CharSpan(from[at], to[at + n - 1])));
            at += n;
        }
    }

    static CharSpan TrimWhitespace(string text, CharSpan span)
    {
        int s = span.Start, e = span.End;
        while (s < e && char.IsWhiteSpace(text[s])) s++;
        while (e > s && char.IsWhiteSpace(text[e - 1])) e--;
        return s < e ? new CharSpan(s, e) : span;
    }
}
