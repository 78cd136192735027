namespace Ptm.Data;

/// <summary>
/// BART's noising functions (Lewis et al. 2019, §2.2) as settings: text infilling, and optionally sentence permutation
/// and token deletion. The decoder is trained to reconstruct the original text from the noised one.
/// </summary>
/// <param name="MaskRatio">Text infilling: the share of a sequence's tokens that masked spans cover, in [0, 1) (BART: 0.3).</param>
/// <param name="PoissonLambda">Text infilling: the mean λ of the Poisson distribution span lengths are drawn from (BART: 3).
/// A span of length 0 inserts a <c>&lt;mask&gt;</c> without removing a token.</param>
/// <param name="PermuteSentences">Sentence permutation: shuffle the order of the sequence's sentences first.</param>
/// <param name="DeleteRatio">Token deletion: the probability that each token is dropped (before infilling), in [0, 1); 0 turns it off.</param>
public sealed record DenoisingOptions(double MaskRatio = 0.3, double PoissonLambda = 3.0, bool PermuteSentences = true, double DeleteRatio = 0)
{
    /// <summary>Checks every field; the message names the property.</summary>
    /// <exception cref="InvalidInputException">a field is out of range</exception>
    public void Validate()
    {
        if (!(MaskRatio is >= 0 and < 1)) throw new InvalidOptionException(nameof(DenoisingOptions), nameof(MaskRatio), "must be in [0, 1)", MaskRatio);
        if (!(PoissonLambda > 0 && PoissonLambda <= 50)) throw new InvalidOptionException(nameof(DenoisingOptions), nameof(PoissonLambda), "must be in (0, 50]", PoissonLambda);
        if (!(DeleteRatio is >= 0 and < 1)) throw new InvalidOptionException(nameof(DenoisingOptions), nameof(DeleteRatio), "must be in [0, 1)", DeleteRatio);
    }
}

/// <summary>
/// Turns a sequence of sentences (token ids, no specials) into BART's (noised source, original target) pair. Pure: the
/// result depends only on the input, the options and the generator's state, so a batch can be rebuilt from its seed.
/// </summary>
/// <remarks>
/// Order of the noise: sentences are permuted (if on), tokens deleted (if on), then text infilling replaces spans of
/// the remaining tokens. Infilling masks exactly round(MaskRatio · n) of the n tokens: span lengths are drawn from
/// Poisson(λ) until they cover that many (the last one cut to fit), and the spans, zero-length ones included, are
/// placed among the kept tokens uniformly at random without overlapping. Each span becomes one <c>&lt;mask&gt;</c>, so
/// the model must also predict how many tokens are missing.
/// </remarks>
public sealed class DenoisingNoiser
{
    readonly DenoisingOptions options;
    readonly int maskId;

    /// <summary>A noiser writing <paramref name="maskId"/> for each masked span.</summary>
    /// <exception cref="InvalidInputException">an option is out of range</exception>
    public DenoisingNoiser(DenoisingOptions options, int maskId)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.options = options;
        this.maskId = maskId;
    }

    /// <summary>The settings.</summary>
    public DenoisingOptions Options => options;

    /// <summary>
    /// The noised source and the original target of <paramref name="sentences"/>: the target is the sentences
    /// concatenated in their order, the source the noised concatenation (neither carries &lt;s&gt; or &lt;/s&gt;).
    /// </summary>
    public (int[] Source, int[] Target) Noise(IReadOnlyList<int[]> sentences, ref SplitMix64 rng)
    {
        int[] target = sentences.SelectMany(s => s).ToArray();
        var order = Enumerable.Range(0, sentences.Count).ToArray();
        if (options.PermuteSentences) rng.Shuffle(order);
        var tokens = new List<int>(target.Length);
        foreach (int s in order)
            foreach (int id in sentences[s])
                if (options.DeleteRatio == 0 || rng.NextDouble() >= options.DeleteRatio) tokens.Add(id);
        return (Infill(tokens, options.MaskRatio, options.PoissonLambda, maskId, ref rng), target);
    }

    /// <summary>
    /// Text infilling on its own (see the type's remarks): <paramref name="tokens"/> with round(<paramref name="maskRatio"/>
    /// · n) of its tokens, in spans of Poisson(<paramref name="lambda"/>) lengths, each replaced by one
    /// <paramref name="maskId"/>, plus one <paramref name="maskId"/> inserted for each zero-length span.
    /// </summary>
    public static int[] Infill(IReadOnlyList<int> tokens, double maskRatio, double lambda, int maskId, ref SplitMix64 rng)
    {
        int[] lengths = SpanLengths(tokens.Count, maskRatio, lambda, ref rng);
        int masked = lengths.Sum();
        // Stars and bars: the kept tokens and the spans are (n - masked + k) items; a uniform choice of which k item
        // slots hold spans places the spans uniformly among the kept tokens, never overlapping.
        int slots = tokens.Count - masked + lengths.Length;
        var isSpan = new bool[slots];
        var pick = Enumerable.Range(0, slots).ToArray();
        for (int i = 0; i < lengths.Length; i++) // partial Fisher-Yates: the first k of a uniform permutation
        {
            int j = i + (int)rng.NextBelow((ulong)(slots - i));
            (pick[i], pick[j]) = (pick[j], pick[i]);
            isSpan[pick[i]] = true;
        }
        var output = new List<int>(slots);
        int next = 0, span = 0;
        for (int slot = 0; slot < slots; slot++)
        {
            if (isSpan[slot])
            {
                output.Add(maskId);
                next += lengths[span++];
            }
            else output.Add(tokens[next++]);
        }
        return [.. output];
    }

    /// <summary>
    /// The spans of text infilling for a sequence of <paramref name="n"/> tokens, in a random order: Poisson(λ) draws
    /// until they sum to at least round(maskRatio · n), the last one cut so that they sum to exactly that. Zero-length
    /// spans are kept (each inserts a mask). Empty when nothing is to be masked.
    /// </summary>
    public static int[] SpanLengths(int n, double maskRatio, double lambda, ref SplitMix64 rng)
    {
        int target = (int)Math.Round(maskRatio * n, MidpointRounding.AwayFromZero);
        var lengths = new List<int>();
        int sum = 0;
        while (sum < target)
        {
            int length = Math.Min(SamplePoisson(lambda, ref rng), target - sum);
            lengths.Add(length);
            sum += length;
        }
        rng.Shuffle(lengths); // the cut span is not always the last
        return [.. lengths];
    }

    /// <summary>A draw from Poisson(<paramref name="lambda"/>) by Knuth's multiplication method (fine for small λ).</summary>
    public static int SamplePoisson(double lambda, ref SplitMix64 rng)
    {
        double limit = Math.Exp(-lambda), product = rng.NextDouble();
        int k = 0;
        while (product > limit)
        {
            k++;
            product *= rng.NextDouble();
        }
        return k;
    }
}
