using System.Text;
using Ptm.Tokenization;

namespace Ptm.Generation;

/// <summary>
/// Turns one sequence's generated ids into text as they arrive: bytes become text once they form whole characters,
/// text that may be the start of a stop string is held back, and the stream ends at &lt;|endoftext|&gt; or a stop string.
/// </summary>
public sealed class TokenTextStream(ITokenizer tokenizer, IReadOnlyList<string> stops)
{
    readonly Decoder decoder = new UTF8Encoding(false, false).GetDecoder();
    readonly StopStringFilter filter = new(stops);
    char[] chars = new char[64];

    /// <summary>True once the end-of-text token or a stop string arrived, or <see cref="Finish"/> was called.</summary>
    public bool Finished { get; private set; }

    /// <summary>Adds one id; returns the text that can be shown now (often empty).</summary>
    public string Push(int id)
    {
        if (Finished) return "";
        if (tokenizer.EndOfTextId == id) return Finish();
        byte[] bytes = tokenizer.DecodeToBytes([id]);
        if (chars.Length < bytes.Length + 4) chars = new char[bytes.Length + 4];
        int count = decoder.GetChars(bytes, 0, bytes.Length, chars, 0, flush: false);
        string shown = filter.Push(new string(chars, 0, count));
        if (filter.Stopped) Finished = true;
        return shown;
    }

    /// <summary>Ends the stream and returns what was still held back (nothing after a stop string).</summary>
    public string Finish()
    {
        if (Finished) return "";
        Finished = true;
        int tail = decoder.GetChars([], 0, 0, chars, 0, flush: true);
        return filter.Push(new string(chars, 0, tail)) + filter.Flush();
    }
}
