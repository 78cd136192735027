using System.Text;
using System.Text.Json;

namespace Ptm.Tokenization;

/// <summary>
/// One token per Unicode scalar value seen in the training text, ids in code-point order (nanoGPT's
/// shakespeare_char). Text with characters outside the vocabulary cannot be encoded.
/// </summary>
public sealed class CharTokenizer : ITokenizer
{
/// <summary>The vocabulary file a model folder holds: a JSON array of the symbols in id order.</summary>
    public const string FileName = "char_vocab.json";
    readonly string[] symbols;
    readonly Dictionary<string, int> ids;

/// <summary>A tokenizer whose id i stands for <paramref name="symbols"/>[i] (one Unicode scalar value each).</summary>
/// <exception cref="ArgumentException">The list is empty or names a symbol twice.</exception>
    public CharTokenizer(IEnumerable<string> symbols)
    {
        this.symbols = symbols.ToArray();
        ids = new Dictionary<string, int>(this.symbols.Length, StringComparer.Ordinal);
        for (int i = 0; i < this.symbols.Length; i++)
            if (!ids.TryAdd(this.symbols[i], i))
                throw new ArgumentException($"duplicate symbol '{this.symbols[i]}' in character vocabulary");
        if (this.symbols.Length == 0) throw new ArgumentException("character vocabulary is empty");
    }

/// <summary>The vocabulary of every scalar value in <paramref name="text"/>, in code-point order.</summary>
    public static CharTokenizer Train(string text)
    {
        if (text.Length == 0) throw new ArgumentException("cannot build a character vocabulary from empty text");
        var set = new SortedSet<int>();
        foreach (Rune r in text.EnumerateRunes()) set.Add(r.Value);
        return new CharTokenizer(set.Select(v => new Rune(v).ToString()));
    }

/// <inheritdoc />
    public string Kind => "char";
/// <inheritdoc />
    public int VocabSize => symbols.Length;
/// <inheritdoc />
    public int? EndOfTextId => null;
/// <summary>The symbols in id order.</summary>
    public IReadOnlyList<string> Symbols => symbols;

/// <inheritdoc />
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

/// <inheritdoc />
    public byte[] DecodeToBytes(ReadOnlySpan<int> tokens) => Encoding.UTF8.GetBytes(Decode(tokens));

/// <inheritdoc />
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

/// <inheritdoc />
    public void Save(string directory)
    {
        string path = Path.Combine(directory, FileName);
        File.WriteAllText(path, JsonSerializer.Serialize(symbols));
    }

/// <summary>Reads <see cref="FileName"/> from <paramref name="directory"/>.</summary>
/// <exception cref="InvalidDataException">The file is not a non-empty JSON array of strings.</exception>
/// <exception cref="InvalidInputException">The file is unreadable or over <see cref="TokenizerFiles.MaxFileBytes"/> or <see cref="TokenizerFiles.MaxVocabularySize"/>.</exception>
    public static CharTokenizer Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        string[]? loaded;
        string text = TokenizerFiles.ReadText(path);
        IO.JsonFiles.CheckSurrogateEscapes(text.AsSpan(), path);
        try { loaded = JsonSerializer.Deserialize<string[]>(text); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: expected a JSON array of strings ({e.Message})"); }
        if (loaded is null || loaded.Length == 0 || loaded.Contains(null)) throw new InvalidDataException($"{path}: expected a non-empty JSON array of strings");
        TokenizerFiles.CheckVocabularySize(path, loaded.Length);
        return new CharTokenizer(loaded);
    }
}
