namespace Ptm.Data;

/// <summary>Where the text comes from.</summary>
/// <param name="TrainSpec">File, folder or glob for training text (see <see cref="TextSource"/>).</param>
/// <param name="ValidationSpec">File, folder or glob for validation text; null to hold out documents of the training spec.</param>
/// <param name="ValidationFraction">Share of the training spec's documents held out when there is no validation spec.</param>
/// <param name="Seed">Picks which documents are held out; the same seed always picks the same ones.</param>
public sealed record CorpusOptions(string TrainSpec, string? ValidationSpec = null, double ValidationFraction = 0.1, ulong Seed = 0);

/// <summary>The documents of both splits, loaded once so a tokenizer can be trained on them before preparing.</summary>
public sealed record Corpus(IReadOnlyList<TextDocument> Train, IReadOnlyList<TextDocument> Validation, CorpusOptions Options)
{
    /// <summary>Reads the documents of <see cref="CorpusOptions.TrainSpec"/> (and of the validation spec, if any) and
    /// holds out whole documents when there is no validation spec (see <see cref="Split"/>).</summary>
    public static Corpus Load(CorpusOptions options)
    {
        IReadOnlyList<TextDocument> all = TextSource.Load(options.TrainSpec);
        if (options.ValidationSpec is not null)
            return new Corpus(all, TextSource.Load(options.ValidationSpec), options);
        return Split(all, options);
    }

    /// <summary>
    /// Holds out <see cref="CorpusOptions.ValidationFraction"/> of <paramref name="all"/> (at least one document,
    /// picked by the seed). A corpus of one document, such as a single text file, is first cut into documents by
    /// <see cref="DocumentSplitter"/> (at blank lines, or else into runs of lines), so one file is enough.
    /// </summary>
    public static Corpus Split(IReadOnlyList<TextDocument> all, CorpusOptions options)
    {
        double fraction = options.ValidationFraction;
        if (!(fraction > 0 && fraction < 1))
            throw new InvalidOptionException(nameof(CorpusOptions), nameof(CorpusOptions.ValidationFraction), "must be between 0 and 1 exclusive", fraction);
        if (all.Count == 1) all = DocumentSplitter.Split(all[0]);
        if (all.Count == 0)
            throw new InvalidInputException($"{options.TrainSpec}: no text to train on");
        if (all.Count < 2)
            throw new InvalidInputException(
                $"{options.TrainSpec}: one document of a single line, need at least 2 documents (or paragraphs separated by blank lines, or lines) to hold some out for validation (or give a validation spec)");

        // Whole documents are held out, so validation text is never a continuation of training text.
        int held = Math.Clamp((int)Math.Round(fraction * all.Count), 1, all.Count - 1);
        int[] order = Enumerable.Range(0, all.Count).ToArray();
        var rng = new SplitMix64(SplitMix64.Mix(options.Seed));
        for (int i = order.Length - 1; i > 0; i--) // Fisher-Yates
        {
            int j = (int)rng.NextBelow((ulong)i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        var heldOut = new HashSet<int>(order.Take(held));
        // Both splits keep the corpus order, so neighbouring documents stay neighbours.
        var train = new List<TextDocument>(all.Count - held);
        var validation = new List<TextDocument>(held);
        for (int i = 0; i < all.Count; i++) (heldOut.Contains(i) ? validation : train).Add(all[i]);
        return new Corpus(train, validation, options);
    }
}
