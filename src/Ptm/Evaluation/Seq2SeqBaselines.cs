using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Ptm.FineTuning;

namespace Ptm.Evaluation;

/// <summary>A sequence-to-sequence system's corpus scores on one file: sacreBLEU-default BLEU and chrF (0–100).</summary>
public sealed record Seq2SeqScore(int Examples, BleuScore Bleu, double ChrF)
{
    /// <summary>Scores <paramref name="hypotheses"/> against the targets of <paramref name="pairs"/>.</summary>
    public static Seq2SeqScore Of(IReadOnlyList<string> hypotheses, IReadOnlyList<Seq2SeqExample> pairs)
    {
        var references = pairs.Select(Target).ToArray();
        return new Seq2SeqScore(pairs.Count, Evaluation.Bleu.Corpus(hypotheses, references), Evaluation.ChrF.Corpus(hypotheses, references));
    }

    /// <summary>The example's target; scoring and training need one.</summary>
    /// <exception cref="InvalidInputException">the example has no target (read without one)</exception>
    internal static string Target(Seq2SeqExample example) =>
        example.Target ?? throw new InvalidInputException($"line {example.Line}: no target text to score or learn from");
}

/// <summary>
/// Floors for sequence-to-sequence tasks that need no neural model. <see cref="Copy"/> outputs the source unchanged
/// (names, numbers and cognates already score). <see cref="WordByWordTranslator"/> replaces each source word by its
/// most probable target word under IBM Model 1 alignments learnt from the training split.
/// </summary>
public static class Seq2SeqBaselines
{
    /// <summary>The copy baseline: every hypothesis is its source.</summary>
    public static IReadOnlyList<string> Copy(IReadOnlyList<Seq2SeqExample> pairs) => pairs.Select(p => p.Source).ToArray();
}

/// <summary>
/// Word-by-word translation with a dictionary learnt from the training pairs by IBM Model 1 (Brown et al. 1993):
/// lower-cased words and punctuation marks; translation probabilities t(target word | source word), with a NULL source
/// word that absorbs target words nothing explains, estimated by a few rounds of EM from uniform. Each source token
/// is then replaced by its most probable target word (NULL's entry aside); a token never seen in training is copied.
/// The output's first letter is capitalised when the source's is. No reordering, no fertility, no language model:
/// a floor that a trained model must clear.
/// </summary>
public sealed class WordByWordTranslator
{
    static readonly Regex Token = new(@"\w+(?:['’\-]\w+)*|[^\w\s]", RegexOptions.Compiled);
    readonly Dictionary<string, string> dictionary;

    WordByWordTranslator(Dictionary<string, string> dictionary) => this.dictionary = dictionary;

    /// <summary>Number of source words with an entry.</summary>
    public int Entries => dictionary.Count;

    /// <summary>The dictionary's translation of one lower-cased source token, or null if it has none.</summary>
    public string? Lookup(string sourceWord) => dictionary.GetValueOrDefault(sourceWord);

    /// <summary>Learns the dictionary from <paramref name="pairs"/> with <paramref name="iterations"/> rounds of EM.</summary>
    /// <exception cref="InvalidInputException">No pairs.</exception>
    public static WordByWordTranslator Train(IReadOnlyList<Seq2SeqExample> pairs, int iterations = 5)
    {
        if (pairs.Count == 0) throw new InvalidInputException("no training pairs for the word-by-word dictionary");
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        var sourceIds = new Dictionary<string, int> { [""] = 0 };   // id 0: NULL
        var targetIds = new Dictionary<string, int>();
        int Id(Dictionary<string, int> ids, string w) => ids.TryGetValue(w, out int i) ? i : ids[w] = ids.Count;
        var corpus = pairs.Select(p => (
            Source: (int[])[0, .. Tokens(p.Source).Select(w => Id(sourceIds, w))],
            Target: Tokens(Seq2SeqScore.Target(p)).Select(w => Id(targetIds, w)).ToArray())).ToArray();
        long V = targetIds.Count;
        // t(e | f) for co-occurring pairs only, keyed f·V + e; uniform start.
        var t = new Dictionary<long, double>();
        foreach (var (f, e) in corpus)
            foreach (int fi in f)
                foreach (int ei in e) t[fi * V + ei] = 1.0 / V;
        for (int round = 0; round < iterations; round++)
        {
            var counts = new Dictionary<long, double>(t.Count);
            var totals = new double[sourceIds.Count];
            foreach (var (f, e) in corpus)
                foreach (int ei in e)
                {
                    double z = 0;
                    foreach (int fi in f) z += t[fi * V + ei];
                    foreach (int fi in f)
                    {
                        double c = t[fi * V + ei] / z;
                        long key = fi * V + ei;
                        counts[key] = counts.GetValueOrDefault(key) + c;
                        totals[fi] += c;
                    }
                }
            foreach (var (key, c) in counts) t[key] = c / totals[key / V];
        }
        var best = new Dictionary<int, (int Target, double P)>();
        foreach (var (key, p) in t)
        {
            int fi = (int)(key / V), ei = (int)(key % V);
            if (fi == 0) continue;
            if (!best.TryGetValue(fi, out var b) || p > b.P || (p == b.P && ei < b.Target)) best[fi] = (ei, p);
        }
        var sourceWords = sourceIds.ToDictionary(kv => kv.Value, kv => kv.Key);
        var targetWords = targetIds.ToDictionary(kv => kv.Value, kv => kv.Key);
        return new WordByWordTranslator(best.ToDictionary(kv => sourceWords[kv.Key], kv => targetWords[kv.Value.Target]));
    }

    /// <summary>The word-by-word translation of <paramref name="source"/>.</summary>
    public string Translate(string source)
    {
        var words = Tokens(source).Select(w => dictionary.GetValueOrDefault(w) ?? w);
        var text = new StringBuilder();
        foreach (string w in words)
        {
            bool attach = text.Length == 0 || (w.Length == 1 && ".,!?;:)]}%".Contains(w[0])) || text[^1] is '(' or '[' or '{';
            if (!attach) text.Append(' ');
            text.Append(w);
        }
        if (text.Length > 0 && source.TrimStart() is { Length: > 0 } trimmed && char.IsUpper(trimmed[0]))
            text[0] = char.ToUpper(text[0], CultureInfo.InvariantCulture);
        return text.ToString();
    }

    /// <summary>Translations of every source in <paramref name="pairs"/>.</summary>
    public IReadOnlyList<string> Translate(IReadOnlyList<Seq2SeqExample> pairs) => pairs.Select(p => Translate(p.Source)).ToArray();

    static IEnumerable<string> Tokens(string text) =>
        Token.Matches(text.ToLower(CultureInfo.InvariantCulture)).Select(m => m.Value);
}
