using System.Text;
using Ptm.IO;
using Ptm.Tokenization;

namespace Ptm.Modeling;

/// <summary>
/// ELMo's two vocabularies. Input: every word is read as characters, the UTF-8 bytes of the word between a
/// begin-of-word and an end-of-word marker, so any word (seen in training or not) has a representation. Output: the
/// softmax predicts one of <see cref="VocabSize"/> ids, the sentence markers <c>&lt;S&gt;</c> and <c>&lt;/S&gt;</c>,
/// <c>&lt;unk&gt;</c>, then the most frequent training words. Words are BERT's basic-tokenizer words (whitespace and
/// punctuation split, the tokenisation below WordPiece that the static vectors use too) with case and punctuation kept:
/// the language model predicts punctuation, and the character CNN reads case.
/// </summary>
public sealed class ElmoVocabulary : ITokenizer
{
    /// <summary>The file in a model folder holding the softmax vocabulary, one word a line, id = line number.</summary>
    public const string FileName = "elmo_vocab.txt";

    /// <summary>The sentence-start token, id 0.</summary>
    public const string BeginSentence = "<S>";
    /// <summary>The sentence-end token, id 1.</summary>
    public const string EndSentence = "</S>";
    /// <summary>The token every word outside the softmax vocabulary predicts as, id 2.</summary>
    public const string Unknown = "<unk>";

    /// <summary>Id of <see cref="BeginSentence"/>.</summary>
    public const int BeginSentenceId = 0;
    /// <summary>Id of <see cref="EndSentence"/>.</summary>
    public const int EndSentenceId = 1;
    /// <summary>Id of <see cref="Unknown"/>.</summary>
    public const int UnknownId = 2;
    /// <summary>The special tokens before the first word.</summary>
    public const int SpecialCount = 3;

    /// <summary>Character id of padding after a word's end marker.</summary>
    public const int PaddingChar = 0;
    /// <summary>Character id of the begin-of-word marker (byte b has id b + 1).</summary>
    public const int BeginWordChar = 257;
    /// <summary>Character id of the end-of-word marker.</summary>
    public const int EndWordChar = 258;
    /// <summary>The one character of <see cref="BeginSentence"/> between its word markers.</summary>
    public const int BeginSentenceChar = 259;
    /// <summary>The one character of <see cref="EndSentence"/> between its word markers.</summary>
    public const int EndSentenceChar = 260;
    /// <summary>Rows of the character embedding: padding, 256 bytes, 4 markers.</summary>
    public const int CharVocabSize = 261;

    static readonly BertBasicTokenizer Basic = new(lowerCase: false, stripAccents: false);

    readonly string[] words;
    readonly Dictionary<string, int> index;

    /// <summary>A vocabulary from its words in id order; the first three must be the specials.</summary>
    /// <exception cref="InvalidInputException">The specials are missing or a word is repeated or empty.</exception>
    public ElmoVocabulary(IReadOnlyList<string> words, string source = "vocabulary")
    {
        if (words.Count <= SpecialCount || words[0] != BeginSentence || words[1] != EndSentence || words[2] != Unknown)
            throw new InvalidInputException($"{source}: must start with {BeginSentence}, {EndSentence}, {Unknown} and hold at least one word");
        this.words = words.ToArray();
        index = new Dictionary<string, int>(words.Count, StringComparer.Ordinal);
        for (int i = 0; i < words.Count; i++)
        {
            if (words[i].Length == 0 || words[i].Any(char.IsWhiteSpace)) throw new InvalidInputException($"{source}: line {i + 1} is empty or holds whitespace");
            if (!index.TryAdd(words[i], i)) throw new InvalidInputException($"{source}: line {i + 1}: '{words[i]}' appears twice");
        }
    }

    /// <summary>The words in id order.</summary>
    public IReadOnlyList<string> Words => words;

    /// <summary>"elmo-words".</summary>
    public string Kind => "elmo-words";

    /// <summary>Rows of the softmax.</summary>
    public int VocabSize => words.Length;

    /// <summary>None: sentences end with <see cref="EndSentence"/> instead.</summary>
    public int? EndOfTextId => null;

    /// <summary>The words of a text with their character offsets: basic-tokenizer words, case and punctuation kept.</summary>
    public static IReadOnlyList<BasicToken> SplitWords(string text) => Basic.Tokenize(text);

    /// <summary>The softmax id of <paramref name="word"/>, <see cref="UnknownId"/> when it is not in the vocabulary.</summary>
    public int Id(string word) => index.TryGetValue(word, out int id) ? id : UnknownId;

    /// <summary>Softmax ids of the words of <paramref name="text"/> (no sentence markers).</summary>
    public int[] Encode(string text) => SplitWords(text).Select(t => Id(t.Text)).ToArray();

    /// <summary>The words of <paramref name="ids"/> joined by spaces, as UTF-8.</summary>
    public byte[] DecodeToBytes(ReadOnlySpan<int> ids) => Encoding.UTF8.GetBytes(Decode(ids));

    /// <summary>The words of <paramref name="ids"/> joined by spaces.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var sb = new StringBuilder();
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)words.Length) throw new ArgumentOutOfRangeException(nameof(ids), $"id {id} outside a vocabulary of {words.Length}");
            if (sb.Length > 0) sb.Append(' ');
            sb.Append(words[id]);
        }
        return sb.ToString();
    }

    /// <summary>
    /// The character ids of <paramref name="word"/> written into <paramref name="destination"/> (its length is the
    /// number of character ids per word): begin-of-word marker, the
    /// word's UTF-8 bytes (cut to fit), end-of-word marker, padding. <see cref="BeginSentence"/> and
    /// <see cref="EndSentence"/> get a marker character of their own, so no text spells them.
    /// </summary>
    public static void CharIds(string word, Span<int> destination)
    {
        int max = destination.Length;
        destination.Fill(PaddingChar);
        destination[0] = BeginWordChar;
        int n = 1;
        if (word == BeginSentence) destination[n++] = BeginSentenceChar;
        else if (word == EndSentence) destination[n++] = EndSentenceChar;
        else
            foreach (byte b in Encoding.UTF8.GetBytes(word))
            {
                if (n >= max - 1) break;
                destination[n++] = b + 1;
            }
        destination[Math.Min(n, max - 1)] = EndWordChar;
    }

    /// <summary>Character ids of each word, row after row: (words.Count × <paramref name="maxCharacters"/>).</summary>
    public static int[] CharIds(IReadOnlyList<string> words, int maxCharacters)
    {
        var ids = new int[words.Count * maxCharacters];
        for (int i = 0; i < words.Count; i++) CharIds(words[i], ids.AsSpan(i * maxCharacters, maxCharacters));
        return ids;
    }

    /// <summary>
    /// The specials and the <paramref name="vocabSize"/> − 3 most frequent words of <paramref name="sentences"/> (ties
    /// in ordinal order), or fewer when the text has fewer distinct words.
    /// </summary>
    /// <exception cref="InvalidOptionException"><paramref name="vocabSize"/> leaves no room for a word.</exception>
    /// <exception cref="InvalidInputException">The text has no words.</exception>
    public static ElmoVocabulary Build(IEnumerable<IReadOnlyList<string>> sentences, int vocabSize)
    {
        if (vocabSize <= SpecialCount) throw new InvalidOptionException(nameof(ElmoVocabulary), "VocabSize", $"must be above {SpecialCount}", vocabSize);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var sentence in sentences)
            foreach (string w in sentence)
                if (w is not (BeginSentence or EndSentence or Unknown)) counts[w] = counts.GetValueOrDefault(w) + 1;
        if (counts.Count == 0) throw new InvalidInputException("the training text has no words to build an ELMo vocabulary from");
        var top = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(vocabSize - SpecialCount).Select(kv => kv.Key);
        return new ElmoVocabulary([BeginSentence, EndSentence, Unknown, .. top]);
    }

    /// <summary>Writes <see cref="FileName"/> into <paramref name="directory"/>, one word a line.</summary>
    public void Save(string directory) =>
        AtomicFile.WriteAllText(Path.Combine(directory, FileName), string.Join("\n", words) + "\n");

    /// <summary>Reads <see cref="FileName"/> from <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing or malformed.</exception>
    public static ElmoVocabulary Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file (an ELMo model folder holds its softmax vocabulary there)");
        var lines = File.ReadAllText(path).Split('\n');
        int n = lines.Length > 0 && lines[^1].Length == 0 ? lines.Length - 1 : lines.Length;
        return new ElmoVocabulary(lines.Take(n).Select(l => l.TrimEnd('\r')).ToList(), path);
    }
}
