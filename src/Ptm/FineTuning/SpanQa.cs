using System.Text;
using Ptm.Tokenization;

namespace Ptm.FineTuning;

/// <summary>
/// One window of a span-QA example: <c>[CLS] question [SEP] context window [SEP]</c> (GPT: <c>&lt;|start|&gt; question
/// &lt;|delim|&gt; context window &lt;|extract|&gt;</c>). <see cref="Start"/> and <see cref="End"/> are the answer's first and
/// last token positions, or 0 ([CLS], the start token) when the answer is not wholly inside
/// this window (as in BERT's run_squad.py). <see cref="Offsets"/> gives, per position, the characters of the context
/// that token came from; only positions in [ContextFirst, ContextFirst + ContextLength) are context.
/// </summary>
public sealed record SpanWindow(int ExampleIndex, int Start, int End, CharSpan[] Offsets, int ContextFirst, int ContextLength);

/// <summary>How long contexts are cut into windows and how answers are chosen.</summary>
/// <param name="DocStride">Tokens between the starts of consecutive windows (run_squad.py's doc_stride: 128 of 384).</param>
/// <param name="MaxAnswerTokens">Longest answer considered, in tokens (word-pieces or BPE tokens; run_squad.py: 30).</param>
/// <param name="NBest">Start and end candidates kept per window, and answers listed (run_squad.py: 20).</param>
public sealed record SpanOptions(int DocStride, int MaxAnswerTokens = 30, int NBest = 20)
{
    /// <summary>BERT used 128 of 384 tokens; the same third of whatever --max-length is.</summary>
    public static int DefaultStride(int maxLength) => Math.Max(1, maxLength / 3);
}

/// <summary>SQuAD's input as in BERT (Devlin et al. 2018, §4.2), with run_squad.py's sliding windows over long
/// contexts, in either family's framing: <c>open question separator context-window close</c>.</summary>
public static class SpanEncoding
{
    /// <summary>The windows of one example; the question keeps at most half of <paramref name="maxLength"/>
    /// (truncated is then true), every context token appears in at least one window.</summary>
    public static (List<EncodedExample> Windows, bool Truncated) Encode(ITokenTaskFraming framing, TaskExample example, int exampleIndex,
        int maxLength, int docStride, string source)
    {
        int[] question = framing.Encode(example.Text);
        var (context, offsets) = framing.EncodeWithOffsets(example.TextPair!);
        bool truncated = false;
        int questionKeep = Math.Min(question.Length, maxLength / 2);
        if (questionKeep < question.Length) truncated = true;
        int budget = maxLength - questionKeep - 3;
        if (budget < 1) throw new InvalidInputException($"{source}, line {example.Line}: a max length of {maxLength} tokens leaves no room for the context");
        if (context.Length == 0) throw new InvalidInputException($"{source}, line {example.Line}: the context has no tokens");

        int answerFirst = -1, answerLast = -1;
        if (example.AnswerStart >= 0 && example.Label is { } answer)
        {
            int charEnd = example.AnswerStart + answer.Length;
            for (int t = 0; t < context.Length; t++)
                if (offsets[t].End > example.AnswerStart && offsets[t].Start < charEnd)
                {
                    if (answerFirst < 0) answerFirst = t;
                    answerLast = t;
                }
            if (answerFirst < 0)
                throw new InvalidInputException($"{source}, line {example.Line}: the answer \"{answer}\" at character {example.AnswerStart} covers no token of the context");
        }

        var windows = new List<EncodedExample>();
        int contextFirst = questionKeep + 2;
        for (int start = 0; ; start += Math.Min(docStride, budget))
        {
            int length = Math.Min(budget, context.Length - start);
            var ids = new List<int>(maxLength) { framing.Open };
            ids.AddRange(question.AsSpan(0, questionKeep));
            ids.Add(framing.Separator);
            ids.AddRange(context.AsSpan(start, length));
            ids.Add(framing.Close);
            var types = new int[ids.Count];
            if (framing.SegmentIds)
                for (int t = contextFirst; t < ids.Count; t++) types[t] = 1;
            var positions = new CharSpan[ids.Count];
            for (int t = 0; t < length; t++) positions[contextFirst + t] = offsets[start + t];
            // A window without the whole answer points at position 0 ([CLS] or the start token), as in run_squad.py.
            bool inside = answerFirst >= start && answerLast < start + length;
            int s = inside ? contextFirst + answerFirst - start : 0, e = inside ? contextFirst + answerLast - start : 0;
            windows.Add(new EncodedExample([ids.ToArray()], [types], -1, 0, truncated)
            {
                Window = new SpanWindow(exampleIndex, s, e, positions, contextFirst, length),
            });
            if (start + length >= context.Length) break;
        }
        return (windows, truncated);
    }
}

/// <summary>A predicted answer: its text, its characters [Start, End) in the context, score (start + end logit) and
/// probability (softmax over the n-best, as run_squad.py reports).</summary>
public sealed record SpanAnswer(string Text, int Start, int End, float Score, float Probability);

/// <summary>Reads answers off a span QA head's start and end logits.</summary>
public static class SpanDecoder
{
    /// <summary>
    /// The n-best answers over all windows of one example: in every window the <see cref="SpanOptions.NBest"/> highest
    /// start and end logits among the context tokens are paired (end not before start, at most MaxAnswerTokens
    /// long), each pair scores start + end logit, and a character span found in several windows keeps its best
    /// score. Whitespace at either end of a span is left out (byte-level BPE can have a token that is just the space
    /// before a word), and a span of whitespace only is no answer. Empty when no window has a valid pair.
    /// </summary>
    public static List<SpanAnswer> NBest(string context, IEnumerable<(SpanWindow Window, float[] StartLogits, float[] EndLogits)> windows, SpanOptions options)
    {
        var best = new Dictionary<(int, int), float>();
        foreach (var (w, startLogits, endLogits) in windows)
        {
            var positions = Enumerable.Range(w.ContextFirst, w.ContextLength).ToArray();
            var starts = positions.OrderByDescending(p => startLogits[p]).Take(options.NBest).ToArray();
            var ends = positions.OrderByDescending(p => endLogits[p]).Take(options.NBest).ToArray();
            foreach (int s in starts)
                foreach (int e in ends)
                {
                    if (e < s || e - s + 1 > options.MaxAnswerTokens) continue;
                    if (Trimmed(context, w.Offsets[s].Start, w.Offsets[e].End) is not { } key) continue;
                    float score = startLogits[s] + endLogits[e];
                    if (!best.TryGetValue(key, out float old) || score > old) best[key] = score;
                }
        }
        var top = best.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Item1).Take(options.NBest).ToList();
        if (top.Count == 0) return [];
        double max = top[0].Value, sum = top.Sum(kv => Math.Exp(kv.Value - max));
        return top.Select(kv => new SpanAnswer(context[kv.Key.Item1..kv.Key.Item2], kv.Key.Item1, kv.Key.Item2, kv.Value,
            (float)(Math.Exp(kv.Value - max) / sum))).ToList();
    }

    static (int, int)? Trimmed(string context, int start, int end)
    {
        while (start < end && char.IsWhiteSpace(context[start])) start++;
        while (end > start && char.IsWhiteSpace(context[end - 1])) end--;
        return start < end ? (start, end) : null;
    }
}

/// <summary>SQuAD v1.1's metrics (Rajpurkar et al. 2016, official evaluate script): exact match and token F1 after
/// lower-casing and removing punctuation, the articles a/an/the and extra whitespace.</summary>
public sealed record SpanMetrics(double ExactMatch, double F1, int Count);

/// <summary>SQuAD v1.1's answer normalisation and metrics, as in the official evaluate script.</summary>
public static class SquadMetrics
{
    /// <summary>Lower-cases, drops ASCII punctuation and symbols, the articles a/an/the and extra whitespace.</summary>
    public static string Normalize(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (char c in text.ToLowerInvariant())
            if (!(c < 128 && char.IsPunctuation(c) || c < 128 && char.IsSymbol(c))) sb.Append(c);
        var words = sb.ToString().Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Where(w => w is not ("a" or "an" or "the"));
        return string.Join(' ', words);
    }

    /// <summary>Whether the two answers are equal after <see cref="Normalize"/>.</summary>
    public static bool ExactMatch(string predicted, string gold) => Normalize(predicted) == Normalize(gold);

    /// <summary>Token F1 of the normalised answers (tokens as a multiset); 0 when they share no token.</summary>
    public static double F1(string predicted, string gold)
    {
        var p = Normalize(predicted).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var g = Normalize(gold).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var counts = g.GroupBy(x => x).ToDictionary(x => x.Key, x => x.Count());
        int same = 0;
        foreach (var token in p)
            if (counts.TryGetValue(token, out int n) && n > 0) { same++; counts[token] = n - 1; }
        if (same == 0) return 0;
        double precision = (double)same / p.Length, recall = (double)same / g.Length;
        return 2 * precision * recall / (precision + recall);
    }

    /// <summary>Mean exact match and F1 of <paramref name="predicted"/> against <paramref name="gold"/>, pairwise by index;
    /// NaN for an empty set.</summary>
    public static SpanMetrics Score(IReadOnlyList<string> predicted, IReadOnlyList<string> gold) => new(
        gold.Count == 0 ? double.NaN : predicted.Zip(gold).Count(x => ExactMatch(x.First, x.Second)) / (double)gold.Count,
        gold.Count == 0 ? double.NaN : predicted.Zip(gold).Average(x => F1(x.First, x.Second)),
        gold.Count);
}
