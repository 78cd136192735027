using Ptm.Tokenization;

namespace Ptm.FineTuning.Baselines;

/// <summary>The words a baseline sees: BERT's basic tokenizer, lower-cased with accents stripped and punctuation
/// split off, each word with its character span in the original text (span QA needs the offsets).</summary>
internal static class BaselineWords
{
    static readonly BertBasicTokenizer Basic = new(lowerCase: true);

    public static IReadOnlyList<BasicToken> Tokenize(string text) => Basic.Tokenize(text);

    public static IEnumerable<string> Of(string text) => Basic.Tokenize(text).Select(t => t.Text);
}

/// <summary>Word ↔ feature id, fixed from the training split: every word seen at least <c>minCount</c> times, ids in
/// ordinal order of the words so the same data gives the same ids. Other words have no id (they are dropped).</summary>
public sealed class WordVocabulary
{
    readonly Dictionary<string, int> ids;

    WordVocabulary(IReadOnlyList<string> words, int minCount)
    {
        Words = words;
        MinCount = minCount;
        ids = new Dictionary<string, int>(words.Count, StringComparer.Ordinal);
        for (int i = 0; i < words.Count; i++) ids.Add(words[i], i);
    }

    /// <summary>The vocabulary's words in ordinal order; a word's index is its feature id.</summary>
    public IReadOnlyList<string> Words { get; }
    /// <summary>The least number of training occurrences a word needed to enter.</summary>
    public int MinCount { get; }
    /// <summary>The number of words, i.e. of feature ids.</summary>
    public int Count => Words.Count;

    /// <summary>The vocabulary of <paramref name="words"/> (the training split's words, repeats counted): every word seen
    /// at least <paramref name="minCount"/> times.</summary>
    /// <exception cref="InvalidOptionException"><paramref name="minCount"/> is below 1.</exception>
    public static WordVocabulary Build(IEnumerable<string> words, int minCount)
    {
        if (minCount < 1) throw new InvalidOptionException(nameof(BaselineOptions), nameof(BaselineOptions.MinCount), "must be at least 1", minCount);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string w in words) counts[w] = counts.GetValueOrDefault(w) + 1;
        return new WordVocabulary(counts.Where(kv => kv.Value >= minCount).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList(), minCount);
    }

    /// <summary>The feature id of <paramref name="word"/>; false for a word outside the vocabulary.</summary>
    public bool TryGetId(string word, out int id) => ids.TryGetValue(word, out id);
}

/// <summary>How a word's count in a text becomes its feature value.</summary>
public enum TermWeighting
{
    /// <summary>1 if the word occurs, whatever the count.</summary>
    Binary,
    /// <summary>log(1 + count): damps repeated words.</summary>
    LogCount,
}

/// <summary>A sparse vector: strictly increasing ids and their values.</summary>
public sealed record SparseVector(int[] Ids, double[] Values)
{
    /// <summary>The vector with no non-zero entries.</summary>
    public static readonly SparseVector Empty = new([], []);

    /// <summary>The number of non-zero entries.</summary>
    public int Count => Ids.Length;

    /// <summary>The element-wise product: non-zero only on ids both vectors have (for binary vectors, the shared words).</summary>
    public SparseVector Times(SparseVector other)
    {
        var ids = new List<int>();
        var values = new List<double>();
        for (int i = 0, j = 0; i < Ids.Length && j < other.Ids.Length;)
        {
            if (Ids[i] < other.Ids[j]) i++;
            else if (Ids[i] > other.Ids[j]) j++;
            else { ids.Add(Ids[i]); values.Add(Values[i] * other.Values[j]); i++; j++; }
        }
        return new SparseVector(ids.ToArray(), values.ToArray());
    }
}

/// <summary>Bag-of-words features: a text's words counted over a fixed vocabulary, unknown words dropped.</summary>
public sealed class BagOfWords(WordVocabulary vocabulary, TermWeighting weighting)
{
    /// <summary>The fixed vocabulary; its ids are the feature columns.</summary>
    public WordVocabulary Vocabulary { get; } = vocabulary;
    /// <summary>How a word's count becomes its feature value.</summary>
    public TermWeighting Weighting { get; } = weighting;
    /// <summary>The number of features: the vocabulary's size.</summary>
    public int Dimension => Vocabulary.Count;

    /// <summary>The features of <paramref name="text"/>, split into words as <see cref="BaselineWords"/> does.</summary>
    public SparseVector Vector(string text) => Vector(BaselineWords.Of(text));

    /// <summary>The features of already split <paramref name="words"/>: ids increasing, values per <see cref="Weighting"/>.</summary>
    public SparseVector Vector(IEnumerable<string> words)
    {
        var counts = new SortedDictionary<int, int>();
        foreach (string w in words)
            if (Vocabulary.TryGetId(w, out int id)) counts[id] = counts.GetValueOrDefault(id) + 1;
        return new SparseVector(counts.Keys.ToArray(),
            counts.Values.Select(c => Weighting == TermWeighting.Binary ? 1.0 : Math.Log(1 + c)).ToArray());
    }

    /// <summary>The weighting's name as <see cref="ParseWeighting"/> reads it: <c>binary</c> or <c>log-count</c>.</summary>
    public static string Name(TermWeighting weighting) => weighting == TermWeighting.Binary ? "binary" : "log-count";

    /// <summary>Reads a weighting name (<c>binary</c> or <c>log-count</c>); <paramref name="source"/> names where it came
    /// from in the error.</summary>
    /// <exception cref="InvalidInputException">Any other name.</exception>
    public static TermWeighting ParseWeighting(string name, string source) => name switch
    {
        "binary" => TermWeighting.Binary,
        "log-count" => TermWeighting.LogCount,
        _ => throw new InvalidInputException($"{source}: must be binary or log-count (got \"{name}\")"),
    };
}
