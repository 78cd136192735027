namespace Ptm.FineTuning;

/// <summary>
/// The input for tagging, BERT's NER recipe (Devlin et al. 2018, §5.3) in either family's framing:
/// <c>open pieces of every word close</c> (<c>[CLS] … [SEP]</c> or <c>&lt;|start|&gt; … &lt;|extract|&gt;</c>); each word's
/// label sits on its first piece and the other pieces get -100, so they take no part in the loss or the prediction.
/// Words are tokenised one at a time, so a piece never spans two words.
/// </summary>
public static class TagEncoding
{
    /// <summary>The label of pieces that take no part in the loss or the prediction (PyTorch's cross-entropy ignore index).</summary>
    public const int Ignore = -100;

    /// <summary>Frames and tokenises <paramref name="words"/>; stops before the first word that would not fit whole.</summary>
    /// <param name="framing">The family's special tokens and word tokenizer.</param>
    /// <param name="words">The example's words.</param>
    /// <param name="tagIds">The label id of each word, or null when the example has no tags (prediction).</param>
    /// <param name="maxLength">Tokens per sequence, the framing tokens included.</param>
    public static EncodedExample Encode(ITokenTaskFraming framing, IReadOnlyList<string> words, int[]? tagIds, int maxLength)
    {
        var ids = new List<int>(words.Count + 2) { framing.Open };
        var labels = new List<int>(words.Count + 2) { Ignore };
        var first = new int[words.Count];
        Array.Fill(first, -1);
        bool truncated = false;
        for (int w = 0; w < words.Count; w++)
        {
            int[] pieces = framing.WordPieces(words, w);
            if (pieces.Length == 0) continue;   // e.g. only control characters: nothing to put a label on
            // Whole words only: a word cut in the middle would keep its label on a piece the model cannot finish.
            if (ids.Count + pieces.Length > maxLength - 1) { truncated = true; break; }
            first[w] = ids.Count;
            ids.AddRange(pieces);
            labels.Add(tagIds?[w] ?? Ignore);
            for (int p = 1; p < pieces.Length; p++) labels.Add(Ignore);
        }
        ids.Add(framing.Close);
        labels.Add(Ignore);
        return new EncodedExample([ids.ToArray()], [new int[ids.Count]], -1, 0, truncated)
        {
            TokenLabels = tagIds is null ? null : labels.ToArray(),
            WordFirstTokens = first,
        };
    }
}

/// <summary>Entity-level precision, recall and F1 (CoNLL's: an entity counts only when its type and both
/// boundaries match) and accuracy over words.</summary>
public sealed record TaggingMetrics(double Precision, double Recall, double F1, double TokenAccuracy, int GoldEntities, int PredictedEntities, int Words);

/// <summary>An entity of a BIO sequence: its type and its words [Start, End).</summary>
public readonly record struct TaggedEntity(string Type, int Start, int End);

/// <summary>BIO tagging's metrics, as CoNLL's conlleval computes them.</summary>
public static class TagMetrics
{
    /// <summary>
    /// The entities of a BIO tag sequence, read as conlleval reads them: <c>B-X</c> starts an entity, <c>I-X</c>
    /// continues one of type X or else starts a new one (a stray I- is an entity, not an error), <c>O</c> ends it. A tag
    /// without a B-/I- prefix is read as I- of that type.
    /// </summary>
    public static List<TaggedEntity> Entities(IReadOnlyList<string> tags)
    {
        var entities = new List<TaggedEntity>();
        string? type = null;
        int start = 0;
        for (int i = 0; i <= tags.Count; i++)
        {
            string tag = i < tags.Count ? tags[i] : "O";
            bool begin = tag.StartsWith("B-", StringComparison.Ordinal);
            string? tagType = tag == "O" ? null : tag.StartsWith("B-", StringComparison.Ordinal) || tag.StartsWith("I-", StringComparison.Ordinal) ? tag[2..] : tag;
            if (type is not null && (tagType != type || begin))
            {
                entities.Add(new TaggedEntity(type, start, i));
                type = null;
            }
            if (tagType is not null && type is null) { type = tagType; start = i; }
        }
        return entities;
    }

    /// <summary>Entity precision, recall and F1 over all sentences and accuracy over all words, of
    /// <paramref name="predicted"/> against <paramref name="gold"/> (one tag per word, pairwise by index).</summary>
    public static TaggingMetrics Score(IReadOnlyList<IReadOnlyList<string>> gold, IReadOnlyList<IReadOnlyList<string>> predicted)
    {
        int goldCount = 0, predCount = 0, correct = 0, words = 0, rightWords = 0;
        for (int s = 0; s < gold.Count; s++)
        {
            var g = Entities(gold[s]).ToHashSet();
            var p = Entities(predicted[s]);
            goldCount += g.Count;
            predCount += p.Count;
            correct += p.Count(g.Contains);
            for (int w = 0; w < gold[s].Count; w++, words++)
                if (gold[s][w] == predicted[s][w]) rightWords++;
        }
        double precision = predCount == 0 ? 0 : (double)correct / predCount;
        double recall = goldCount == 0 ? 0 : (double)correct / goldCount;
        double f1 = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        return new TaggingMetrics(precision, recall, f1, words == 0 ? double.NaN : (double)rightWords / words, goldCount, predCount, words);
    }
}
