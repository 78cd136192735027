using System.Text;
using System.Text.Json;

namespace Ptm.Tokenization;

/// <summary>
/// One token per Unicode scalar value seen in the training text, ids in code-point order (nanoGPT's
/// shakespeare_char). Text with characters outside the vocabulary cannot be encoded.
/// </summary>
public sealed class CharTokenizer : ITokenizer
{
    public const string FileName = "char_vocab.json";
    readonly string[] symbols;
    readonly Dictionary<string, int> ids;

    public CharTokenizer(IEnumerable<string> symbols)
    {
        this.symbols = symbols.ToArray();
        ids = new Dictionary<string, int>(this.symbols.Length, StringComparer.Ordinal);
        for (int i = 0; i < this.symbols.Length; i++)
            if (!ids.TryAdd(this.symbols[i], i))
                throw new ArgumentException($"duplicate symbol '{this.symbols[i]}' in character vocabulary");
        if (this.symbols.Length == 0) throw new ArgumentException("character vocabulary is empty");
    }

    public static CharTokenizer Train(string text)
    {
        if (text.Length == 0) throw new ArgumentException("cannot build a character vocabulary from empty text");
        var set = new SortedSet<int>();
        foreach (Rune r in text.EnumerateRunes()) set.Add(r.Value);
        return new CharTokenizer(set.Select(v => new Rune(v).ToString()));
    }

    public string Kind => "char";
    public int VocabSize => symbols.Length;
    public int? EndOfTextId => null;
    public IReadOnlyList<string> Symbols => symbols;

    public int[] Encode(string text)
    {
        var result = new List<int>(text.Length);
        int offset = 0;
        foreach (Rune r in text.EnumerateRunes())
        {
            if (!ids.TryGetValue(r.ToString(), out int id))
                throw new InvalidInputException($"character U+{r.Value:X4} at offset {offset} is not in the character vocabulary");
            result.Add(id);
            offset += r.Utf16SequenceLength;
        }
        return result.ToArray();
    }

    public byte[] DecodeToBytes(ReadOnlySpan<int> tokens) => Encoding.UTF8.GetBytes(Decode(tokens));

    public string Decode(ReadOnlySpan<int> tokens)
    {
        var sb = new StringBuilder(tokens.Length);
        foreach (int t in tokens)
        {
            if ((uint)t >= (uint)symbols.Length)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {t} is outside the vocabulary [0, {symbols.Length})");
            sb.Append(symbols[t]);
        }
        return sb.ToString();
    }

    public void Save(string directory)
    {
        string path = Path.Combine(directory, FileName);
        File.WriteAllText(path, JsonSerializer.Serialize(symbols));
    }

    public static CharTokenizer Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        string[]? loaded;
        try { loaded = JsonSerializer.Deserialize<string[]>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: expected a JSON array of strings ({e.Message})"); }
        if (loaded is null || loaded.Length == 0) throw new InvalidDataException($"{path}: expected a non-empty JSON array of strings");
        return new CharTokenizer(loaded);
    }
}
