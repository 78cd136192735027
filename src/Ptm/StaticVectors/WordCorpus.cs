using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.StaticVectors;

/// <summary>
/// A corpus as static word-vector trainers see it: sentences of word ids over a vocabulary sorted by frequency.
/// Words are BERT's basic-tokenizer words (lower-cased, accents stripped, punctuation split off; the level below
/// WordPiece), with punctuation-only words dropped; each non-empty line is one sentence (a verse of data/kjv), and
/// context windows never cross a line, as in Mikolov's word2vec tool where a newline ends a sentence.
/// </summary>
public sealed class WordCorpus
{
    static readonly BertBasicTokenizer Basic = new(lowerCase: true);

    WordCorpus(string[] words, long[] counts, int[][] sentences)
    {
        Words = words;
        Counts = counts;
        Sentences = sentences;
        var index = new Dictionary<string, int>(words.Length, StringComparer.Ordinal);
        for (int i = 0; i < words.Length; i++) index[words[i]] = i;
        Index = index;
        TokenCount = sentences.Sum(s => (long)s.Length);
    }

    /// <summary>The vocabulary, most frequent first (ties in ordinal order), so id 0 is the most frequent word.</summary>
    public IReadOnlyList<string> Words { get; }

    /// <summary>Training-text count of each word of <see cref="Words"/>.</summary>
    public IReadOnlyList<long> Counts { get; }

    /// <summary>Each sentence as word ids; words outside the vocabulary (below the minimum count) are left out.</summary>
    public IReadOnlyList<int[]> Sentences { get; }

    /// <summary>Word to id.</summary>
    public IReadOnlyDictionary<string, int> Index { get; }

    /// <summary>Words in <see cref="Sentences"/> (in-vocabulary tokens).</summary>
    public long TokenCount { get; }

    /// <summary>The words of one line: basic-tokenizer words that contain a letter or a digit.</summary>
    public static IEnumerable<string> SplitWords(string line) =>
        Basic.Tokenize(line).Select(t => t.Text).Where(w => w.Any(char.IsLetterOrDigit));

    /// <summary>Reads a corpus spec (a folder with train.txt and validation.txt such as data/kjv, a file, a folder or
    /// a glob; see <see cref="CorpusTokenizer.Options"/>) and builds the corpus from its training split.</summary>
    public static WordCorpus FromSpec(string spec, int minCount)
    {
        var corpus = Corpus.Load(CorpusTokenizer.Options(spec, null, 0.1, 0));
        return FromLines(corpus.Train.SelectMany(d => d.Text.Split('\n')), minCount);
    }

    /// <summary>Builds the vocabulary (words seen at least <paramref name="minCount"/> times) and the sentences from lines of text.</summary>
    /// <exception cref="InvalidOptionException"><paramref name="minCount"/> is below 1.</exception>
    /// <exception cref="InvalidInputException">No word reaches <paramref name="minCount"/>.</exception>
    public static WordCorpus FromLines(IEnumerable<string> lines, int minCount)
    {
        if (minCount < 1) throw new InvalidOptionException(nameof(WordCorpus), "MinCount", "must be at least 1", minCount);
        var tokenized = new List<string[]>();
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in lines)
        {
            string[] words = SplitWords(line).ToArray();
            if (words.Length == 0) continue;
            tokenized.Add(words);
            foreach (string w in words) counts[w] = counts.GetValueOrDefault(w) + 1;
        }
        var vocab = counts.Where(kv => kv.Value >= minCount)
            .OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        if (vocab.Length == 0)
            throw new InvalidInputException($"no word occurs at least {minCount} times (WordCorpus MinCount) in {tokenized.Count} lines of text");
        var index = new Dictionary<string, int>(vocab.Length, StringComparer.Ordinal);
        for (int i = 0; i < vocab.Length; i++) index[vocab[i].Key] = i;
        var sentences = new List<int[]>(tokenized.Count);
        foreach (string[] words in tokenized)
        {
            int[] ids = words.Where(index.ContainsKey).Select(w => index[w]).ToArray();
            if (ids.Length > 0) sentences.Add(ids);
        }
        return new WordCorpus(vocab.Select(kv => kv.Key).ToArray(), vocab.Select(kv => kv.Value).ToArray(), sentences.ToArray());
    }

    /// <summary>A corpus from sentences that are already word ids over <paramref name="words"/> (counts taken from the sentences).</summary>
    public static WordCorpus FromIds(IReadOnlyList<string> words, IReadOnlyList<int[]> sentences)
    {
        var counts = new long[words.Count];
        foreach (int[] s in sentences)
            foreach (int id in s)
            {
                if ((uint)id >= (uint)words.Count) throw new ArgumentOutOfRangeException(nameof(sentences), $"word id {id} outside a vocabulary of {words.Count}");
                counts[id]++;
            }
        return new WordCorpus(words.ToArray(), counts, sentences.Select(s => s.ToArray()).ToArray());
    }
}
