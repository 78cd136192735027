using System.Text.RegularExpressions;
using Ptm.FineTuning;
using Ptm.Tokenization;

namespace Ptm.Evaluation.Representations;

/// <summary>One usage example of a word in one of its senses: the word (lower-cased lemma), its part of speech, the
/// WordNet synset the example illustrates, the example and where the word occurs in it.</summary>
public sealed record SenseUsage(string Word, string PartOfSpeech, string Synset, string Text, CharSpan Target);

/// <summary>Two usages of the same word (indices into <see cref="SenseDataset.Usages"/>), in the same sense or not.</summary>
public sealed record SensePair(int First, int Second, bool SameSense);

/// <summary>
/// Usage examples grouped into same-word pairs for measuring sense separation: every two usages of the same word
/// (same lemma and part of speech) form a pair, labelled same-sense when they illustrate the same synset. Pairs
/// whose two examples are the same sentence are left out (<see cref="IdenticalTexts"/>): any representation gives
/// them the same vector.
/// </summary>
/// <param name="Usages">the usages, in a fixed order</param>
/// <param name="Pairs">every same-word pair, in order of the word's first usage, then of the pair's usages</param>
/// <param name="Words">how many words have at least one pair</param>
/// <param name="IdenticalTexts">same-word pairs left out because both examples are the same sentence</param>
public sealed record SenseDataset(IReadOnlyList<SenseUsage> Usages, IReadOnlyList<SensePair> Pairs, int Words, int IdenticalTexts)
{
    /// <summary>The file names read from a wordnet-senses folder, in order.</summary>
    public static readonly IReadOnlyList<string> Files =
        ["span-train.csv", "span-validation.csv", "span-test.csv", "pair-train.csv", "pair-validation.csv", "pair-test.csv"];

    /// <summary>Same-sense pairs.</summary>
    public int SameCount => Pairs.Count(p => p.SameSense);

    /// <summary>Different-sense pairs.</summary>
    public int DifferentCount => Pairs.Count - SameCount;

    /// <summary>
    /// The usages of a <c>data/tasks/wordnet-senses</c> folder, all three splits (nothing is trained, so nothing is
    /// held out): every row of the span files (synset, example, the word's offset and text; the word is the answer
    /// lower-cased, which is how the files were built), then the example of every <c>yes</c> row of the pair files
    /// (the example of the row's own synset; the word is located as the files' builder located it, its first
    /// whole-word case-insensitive occurrence). A usage already seen (same word, synset and example) is kept once.
    /// <c>no</c> rows are not used: their example's synset is not named.
    /// </summary>
    /// <exception cref="InvalidInputException">A file is missing or malformed, or a pair example does not contain its word.</exception>
    public static SenseDataset Load(string folder)
    {
        var usages = new List<SenseUsage>();
        var seen = new HashSet<(string, string, string)>();
        void Add(SenseUsage u)
        {
            if (seen.Add((u.Word, u.Synset, u.Text))) usages.Add(u);
        }
        foreach (var file in Files.Where(f => f.StartsWith("span-", StringComparison.Ordinal)))
        {
            string path = Path.Combine(folder, file);
            var data = TaskFile.Read(path, FineTuneTask.Span, new TaskColumns(Question: "synset"));
            foreach (var e in data.Examples)
            {
                string answer = e.Label!, context = e.TextPair!;
                Add(new SenseUsage(answer.ToLowerInvariant(), PartOfSpeech(e.Text, path, e.Line), e.Text, context,
                    new CharSpan(e.AnswerStart, e.AnswerStart + answer.Length)));
            }
        }
        foreach (var file in Files.Where(f => f.StartsWith("pair-", StringComparison.Ordinal)))
        {
            string path = Path.Combine(folder, file);
            var synsets = TaskFile.Read(path, FineTuneTask.Pair, new TaskColumns(Text: "synset", TextPair: "text_pair"));
            var words = TaskFile.Read(path, FineTuneTask.Classify, new TaskColumns(Text: "word"));
            for (int i = 0; i < synsets.Count; i++)
            {
                var e = synsets.Examples[i];
                if (e.Label != "yes") continue;
                string word = words.Examples[i].Text;
                var target = Locate(word, e.TextPair!)
                    ?? throw new InvalidInputException($"{path}, line {e.Line}: the example does not contain the word \"{word}\"");
                Add(new SenseUsage(word, PartOfSpeech(e.Text, path, e.Line), e.Text, e.TextPair!, target));
            }
        }
        return Build(usages);
    }

    /// <summary>The pairs of <paramref name="usages"/>: see <see cref="SenseDataset"/>.</summary>
    public static SenseDataset Build(IReadOnlyList<SenseUsage> usages)
    {
        var byWord = new Dictionary<(string, string), List<int>>();
        var order = new List<(string, string)>();
        for (int i = 0; i < usages.Count; i++)
        {
            var key = (usages[i].Word, usages[i].PartOfSpeech);
            if (!byWord.TryGetValue(key, out var list)) { byWord[key] = list = []; order.Add(key); }
            list.Add(i);
        }
        var pairs = new List<SensePair>();
        int words = 0, identical = 0;
        foreach (var key in order)
        {
            var list = byWord[key];
            bool any = false;
            for (int a = 0; a < list.Count; a++)
                for (int b = a + 1; b < list.Count; b++)
                {
                    var (x, y) = (usages[list[a]], usages[list[b]]);
                    if (x.Text == y.Text) { identical++; continue; }
                    pairs.Add(new SensePair(list[a], list[b], x.Synset == y.Synset));
                    any = true;
                }
            if (any) words++;
        }
        return new SenseDataset(usages, pairs, words, identical);
    }

    /// <summary>The first whole-word, case-insensitive occurrence of <paramref name="word"/> in <paramref name="text"/>
    /// (not inside a longer word or hyphenated compound), or null.</summary>
    public static CharSpan? Locate(string word, string text)
    {
        var m = Regex.Match(text, @"(?<![\w-])" + Regex.Escape(word) + @"(?![\w-])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        return m.Success ? new CharSpan(m.Index, m.Index + m.Length) : null;
    }

    static string PartOfSpeech(string synset, string path, int line)
    {
        int colon = synset.IndexOf(':');
        return colon > 0 ? synset[..colon]
            : throw new InvalidInputException($"{path}, line {line}: synset \"{synset}\" should read pos:offset (e.g. noun:00001740)");
    }
}
