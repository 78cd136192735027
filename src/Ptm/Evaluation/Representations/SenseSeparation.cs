using Ptm.Embeddings;

namespace Ptm.Evaluation.Representations;

/// <summary>One layer's sense separation: the ROC AUC of the cosine similarity of a word's two vectors as a score for
/// "same sense", over the pairs both of whose usages the representation covers.</summary>
/// <param name="Layer">layer index</param>
/// <param name="Name">layer name</param>
/// <param name="Auc">the AUC on the covered pairs (NaN when they lack one class)</param>
/// <param name="Same">same-sense pairs scored</param>
/// <param name="Different">different-sense pairs scored</param>
/// <param name="MeanSame">mean cosine of the same-sense pairs</param>
/// <param name="MeanDifferent">mean cosine of the different-sense pairs</param>
public sealed record LayerSeparation(int Layer, string Name, double Auc, int Same, int Different, double MeanSame, double MeanDifferent);

/// <summary>Measures how well a representation's word vectors tell a word's senses apart.</summary>
public static class SenseSeparation
{
    /// <summary>
    /// The word vector of every usage at every layer (mean over its word pieces; null where not covered), from one
    /// <see cref="ILayeredRepresentation.Encode"/> per usage. Indexed [usage][layer].
    /// </summary>
    public static float[]?[][] UsageVectors(ILayeredRepresentation representation, IReadOnlyList<SenseUsage> usages)
    {
        int layers = representation.LayerNames.Count;
        return usages.Select(u =>
        {
            var tokens = representation.Encode(u.Text);
            return Enumerable.Range(0, layers).Select(l => tokens.WordVector(l, u.Target)).ToArray();
        }).ToArray();
    }

    /// <summary>Whether both usages of a pair have a vector (at every layer) in <paramref name="vectors"/>.</summary>
    public static bool Covers(float[]?[][] vectors, SensePair pair) =>
        vectors[pair.First].All(v => v is not null) && vectors[pair.Second].All(v => v is not null);

    /// <summary>Per layer, the AUC of cosine similarity for same- versus different-sense over <paramref name="pairs"/>
    /// (those not covered by <paramref name="vectors"/> are skipped).</summary>
    public static IReadOnlyList<LayerSeparation> Evaluate(IReadOnlyList<string> layerNames, float[]?[][] vectors, IEnumerable<SensePair> pairs)
    {
        var covered = pairs.Where(p => Covers(vectors, p)).ToList();
        var labels = covered.Select(p => p.SameSense).ToList();
        int same = labels.Count(x => x), different = labels.Count - same;
        var result = new List<LayerSeparation>();
        for (int l = 0; l < layerNames.Count; l++)
        {
            var scores = covered.Select(p => VectorSimilarity.Cosine(vectors[p.First][l], vectors[p.Second][l])).ToList();
            double auc = same > 0 && different > 0 ? RocAuc.Compute(scores, labels) : double.NaN;
            result.Add(new LayerSeparation(l, layerNames[l], auc, same, different,
                MeanWhere(scores, labels, true), MeanWhere(scores, labels, false)));
        }
        return result;
    }

    /// <summary>Sense separation of several representations on one dataset: each over the pairs it covers, and all over
    /// the pairs every one of them covers, so rows are comparable where coverage differs (static vectors trained on a
    /// small corpus miss many words). <paramref name="progress"/> hears each representation's name before it runs.</summary>
    public static IReadOnlyList<SenseComparison> Compare(IReadOnlyList<ILayeredRepresentation> representations, SenseDataset data,
        Action<string>? progress = null)
    {
        var vectors = representations.Select(r => { progress?.Invoke(r.Name); return UsageVectors(r, data.Usages); }).ToList();
        var common = data.Pairs.Where(p => vectors.All(v => Covers(v, p))).ToList();
        return representations.Select((r, i) => new SenseComparison(r.Name,
            vectors[i].Count(u => u.All(v => v is not null)),
            Evaluate(r.LayerNames, vectors[i], data.Pairs),
            Evaluate(r.LayerNames, vectors[i], common))).ToList();
    }

    static double MeanWhere(List<double> scores, List<bool> labels, bool label)
    {
        var picked = scores.Where((_, i) => labels[i] == label).ToList();
        return picked.Count == 0 ? double.NaN : picked.Average();
    }
}

/// <summary>One representation's result in <see cref="SenseSeparation.Compare"/>.</summary>
/// <param name="Name">the representation's name</param>
/// <param name="CoveredUsages">usages with a vector at every layer</param>
/// <param name="Own">per layer, over every pair this representation covers</param>
/// <param name="Common">per layer, over the pairs every compared representation covers (the same pairs for all)</param>
public sealed record SenseComparison(string Name, int CoveredUsages, IReadOnlyList<LayerSeparation> Own, IReadOnlyList<LayerSeparation> Common);
