using Ptm.Data;

namespace Ptm.Tests.Data;

/// <summary>
/// A tiny stand-in for the WordPiece tokenizer: ids 0-4 are [PAD] [UNK] [CLS] [SEP] [MASK]; ids at or above
/// <see cref="FirstContinuation"/> are "##" pieces. Encode is word-level over a fixed word list (unknown → [UNK]).
/// </summary>
sealed class MlmFakeVocabulary : IMaskingVocabulary
{
    public const int Pad = 0, Unk = 1, Cls = 2, Sep = 3, MaskToken = 4, FirstWord = 5;
    readonly Dictionary<string, int> words;

    public int FirstContinuation { get; }
    public string Kind => "fake-words";
    public int VocabSize { get; }
    public int PadId => Pad;
    public int ClsId => Cls;
    public int SepId => Sep;
    public int MaskId => MaskToken;

    public MlmFakeVocabulary(int vocabSize, int firstContinuation = int.MaxValue, IEnumerable<string>? wordList = null)
    {
        VocabSize = vocabSize;
        FirstContinuation = firstContinuation;
        words = new Dictionary<string, int>(StringComparer.Ordinal);
        if (wordList is not null)
            foreach (string w in wordList)
                if (!words.ContainsKey(w) && FirstWord + words.Count < vocabSize) words[w] = FirstWord + words.Count;
    }

    /// <summary>A word-level vocabulary over every whitespace-separated word of the texts.</summary>
    public static MlmFakeVocabulary FromTexts(IEnumerable<string> texts)
    {
        var list = texts.SelectMany(t => t.Split([' ', '\n', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries)).Distinct().Order(StringComparer.Ordinal).ToList();
        return new MlmFakeVocabulary(FirstWord + list.Count, wordList: list);
    }

    public bool IsSpecial(int id) => id < FirstWord;
    public bool IsContinuation(int id) => id >= FirstContinuation;
    public int[] Encode(string text) =>
        text.Split([' ', '\n', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries).Select(w => words.GetValueOrDefault(w, Unk)).ToArray();
    public void Save(string directory) => File.WriteAllText(Path.Combine(directory, "fake-vocab.txt"), VocabSize.ToString());
}
