namespace Ptm.Tokenization;

/// <summary>
/// GPT-2's reversible byte → printable character table (bytes_to_unicode in openai/gpt-2 encoder.py).
/// Bytes that are already visible Latin-1 characters ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves; the
/// other 68 bytes (controls, space, soft hyphen...) map to U+0100, U+0101, ... in byte order. Vocabulary files
/// store tokens in this alphabet, so every token is a string of these 256 characters.
/// </summary>
internal static class ByteLevelAlphabet
{
    static readonly char[] byteToChar = BuildTable();
    static readonly short[] charToByte = BuildInverse();

    /// <summary>The character that stands for <paramref name="b"/> in vocabulary files.</summary>
    public static char ToChar(byte b) => byteToChar[b];

    /// <summary>The byte a vocabulary character stands for, or false if it is not in the alphabet.</summary>
    public static bool TryToByte(char c, out byte b)
    {
        if (c < charToByte.Length && charToByte[c] >= 0) { b = (byte)charToByte[c]; return true; }
        b = 0;
        return false;
    }

    /// <summary>Converts a vocabulary token back to its bytes; null if it holds a character outside the alphabet.</summary>
    public static byte[]? Unspell(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
            if (!TryToByte(token[i], out bytes[i])) return null;
        return bytes;
    }

    static bool IsVisible(int b) => (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);

    static char[] BuildTable()
    {
        var table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
            table[b] = IsVisible(b) ? (char)b : (char)next++;
        return table;
    }

    static short[] BuildInverse()
    {
        var inverse = new short[256 + 68];
        Array.Fill(inverse, (short)-1);
        for (int b = 0; b < 256; b++) inverse[byteToChar[b]] = (short)b;
        return inverse;
    }
}
