using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Prompting;

/// <summary>
/// One example's outcome: the candidates' scores (classify, pair, choice) or the generated answer (span).
/// <see cref="Scores"/> gives them under any calibration that was computed.
/// </summary>
/// <param name="Line">the example's line in its file</param>
/// <param name="RawScores">log P(candidate | prompt): the sum (or mean, <see cref="PromptOptions.LengthNormalize"/>) of its tokens' log-probabilities</param>
/// <param name="ContentFree">contextual calibration's p_cf per candidate, when computed</param>
/// <param name="PremiseScores">log P(candidate | domain premise) per candidate, when PMI was computed</param>
/// <param name="Generated">span tasks: the greedy answer</param>
/// <param name="Demonstrations">demonstrations that fitted the context</param>
/// <param name="QueryTruncated">whether a query field was cut to fit</param>
/// <param name="Primary">the calibration of <see cref="Predicted"/> (the first of <see cref="PromptOptions.Calibrations"/>)</param>
public sealed record PromptPrediction(int Line, double[] RawScores, double[]? ContentFree, double[]? PremiseScores, string? Generated,
    int Demonstrations, bool QueryTruncated, Calibration Primary)
{
    /// <summary>The candidates' scores under <paramref name="calibration"/>.</summary>
    /// <exception cref="InvalidOperationException">That calibration was not computed.</exception>
    public double[] Scores(Calibration calibration) => calibration switch
    {
        Calibration.None => RawScores,
        Calibration.Contextual => PromptCalibration.Contextual(RawScores, ContentFree ?? throw new InvalidOperationException("contextual calibration was not computed")),
        _ => PromptCalibration.Pmi(RawScores, PremiseScores ?? throw new InvalidOperationException("PMI was not computed")),
    };

    /// <summary>The best candidate under <paramref name="calibration"/> (first on ties).</summary>
    public int PredictedUnder(Calibration calibration)
    {
        var s = Scores(calibration);
        int best = 0;
        for (int i = 1; i < s.Length; i++) if (s[i] > s[best]) best = i;
        return best;
    }

    /// <summary>The best candidate under <see cref="Primary"/>.</summary>
    public int Predicted => PredictedUnder(Primary);

    /// <summary>Softmax over the candidates of the scores under <paramref name="calibration"/>.</summary>
    public double[] Probabilities(Calibration calibration) => PromptCalibration.Softmax(Scores(calibration));
}

/// <summary>The predictions for a task file, with what is needed to score them.</summary>
/// <param name="Task">classify, pair, choice or span</param>
/// <param name="Labels">the class names (classify, pair) in candidate order, or null</param>
/// <param name="Gold">per example the gold candidate index (span: -1), or null when the file has no labels</param>
/// <param name="GoldAnswers">span: the gold answers</param>
/// <param name="Predictions">one per example, in file order</param>
/// <param name="PrefixPasses">forward passes over a shared prefix: one per distinct demonstration set</param>
public sealed record PromptRun(FineTuneTask Task, IReadOnlyList<string>? Labels, IReadOnlyList<int>? Gold, IReadOnlyList<string>? GoldAnswers,
    IReadOnlyList<PromptPrediction> Predictions, int PrefixPasses)
{
    /// <summary>Accuracy, macro-F1 and confusion under <paramref name="calibration"/> (the same code as fine-tuned models'),
    /// or null for span tasks and unlabelled files.</summary>
    public ClassificationMetrics? Classification(Calibration calibration) => Gold is null || Task == FineTuneTask.Span ? null
        : TaskMetrics.Classification(Gold, Predictions.Select(p => p.PredictedUnder(calibration)).ToList(), Predictions[0].RawScores.Length);

    /// <summary>Exact match and F1 (SQuAD's) of span answers, or null.</summary>
    public SpanMetrics? Spans => GoldAnswers is null ? null : SquadMetrics.Score(Predictions.Select(p => p.Generated ?? "").ToList(), GoldAnswers);

    /// <summary>The mean number of demonstrations that fitted the context.</summary>
    public double MeanDemonstrations => Predictions.Average(p => p.Demonstrations);

    /// <summary>Queries that had a field cut to fit.</summary>
    public int TruncatedQueries => Predictions.Count(p => p.QueryTruncated);
}

/// <summary>
/// "Pre-train, prompt, predict": a GPT answers task examples without any weight change. Each example becomes a prompt
/// (<see cref="PromptTemplate"/>), optionally after k demonstrations from the training split (in-context learning);
/// for classify, pair and choice every candidate answer is scored as a continuation (<see cref="CandidateScorer"/>,
/// which runs the shared demonstrations once) and the best one wins, optionally calibrated (<see cref="Calibration"/>);
/// for span the greedy continuation is the answer. The model and tokenizer are borrowed; the model is put in eval mode
/// for the call and left as it was.
/// </summary>
public sealed class PromptPredictor(Gpt model, ITokenizer tokenizer)
{
    /// <summary>
    /// Predicts every example of <paramref name="data"/>. <paramref name="train"/> supplies demonstrations (needed when
    /// <see cref="PromptOptions.Shots"/> &gt; 0) and, with <paramref name="data"/>, the label set. <paramref name="embed"/>
    /// maps an example's text to a vector for <see cref="DemoSelection.Nearest"/> (default: <see cref="Embed"/>).
    /// </summary>
    /// <exception cref="InvalidInputException">An unsupported task, a bad template, a label without a word, or a query that cannot fit.</exception>
    public PromptRun Run(FineTuneTask task, TaskData? train, TaskData data, PromptOptions options, Func<string, float[]>? embed = null)
    {
        options.Validate();
        if (task is not (FineTuneTask.Classify or FineTuneTask.Pair or FineTuneTask.Choice or FineTuneTask.Span))
            throw new InvalidInputException($"{data.Source}: prompting handles classify, pair, choice and span tasks, not {FineTuneTasks.Name(task)}");
        if (options.Shots > 0 && (train is null || train.Count == 0))
            throw new InvalidOptionException(nameof(PromptOptions), nameof(PromptOptions.Shots), "needs training examples to draw demonstrations from", options.Shots);
        var template = new PromptTemplate(options.Template ?? PromptOptions.DefaultTemplate(task));
        var packer = new PromptPacker(tokenizer, template, model.Config.NPositions, options.Separator, options.Truncation);
        bool labelled = data.Examples.All(e => e.Label is not null);

        // Candidate answers: the verbalized class names, or each example's choices.
        IReadOnlyList<string>? labels = null, words = null;
        if (FineTuneTasks.HasLabelMap(task))
        {
            var names = (train?.Examples ?? []).Concat(data.Examples).Select(e => e.Label).OfType<string>().ToList();
            if (names.Count == 0) names = [.. options.Verbalizer.Entries.Keys];
            labels = names.Distinct().Order(StringComparer.Ordinal).ToList();
            if (labels.Count < 2) throw new InvalidInputException($"{data.Source}: {labels.Count} label(s); scoring answers needs at least two (give a verbalizer or labelled examples)");
            words = options.Verbalizer.Words(labels);
        }
        IReadOnlyList<string> Candidates(TaskExample e) => task == FineTuneTask.Choice ? e.Choices! : words ?? [];
        string Answer(TaskExample e, string source) => task switch
        {
            FineTuneTask.Choice => e.Choices![LabelMap.ChoiceIndex(e.Label!, e.Choices.Count, source, e.Line)],
            FineTuneTask.Span => e.Label!,
            _ => options.Verbalizer.Word(e.Label!),
        };
        int Gold(TaskExample e) => task == FineTuneTask.Choice ? LabelMap.ChoiceIndex(e.Label!, e.Choices!.Count, data.Source, e.Line)
            : task == FineTuneTask.Span ? -1 : labels!.ToList().IndexOf(e.Label!);

        // Demonstrations: one fixed set (random, balanced), or per query (nearest).
        var pool = train?.Examples ?? [];
        string[] demoTexts = pool.Select(e => template.RenderDemonstration(Fields(e), Answer(e, train!.Source))).ToArray();
        int[]? fixedDemos = options.Shots == 0 ? [] : options.Selection switch
        {
            DemoSelection.Random => DemonstrationSelector.Random(pool.Count, options.Shots, options.Seed),
            DemoSelection.Balanced => DemonstrationSelector.Balanced(pool.Select(e => e.Label ?? "").ToList(), options.Shots, options.Seed),
            _ => null,
        };
        embed ??= Embed;
        var poolVectors = fixedDemos is null ? pool.Select(e => embed(EmbeddingText(e))).ToList() : null;

        using var mode = EvalMode.Enter(model);
        using var scorer = new CandidateScorer(model);
        using var premiseScorer = new CandidateScorer(model);
        premiseScorer.SetPrefix(packer.Start);
        var contentFreeCache = new Dictionary<string, double[]>();
        var premiseCache = new Dictionary<string, double[]>();
        var (premiseText, _) = PromptPacker.SplitTrailingSpace(template.DomainPremise);
        int[] premiseIds = tokenizer.Encode(premiseText);
        IReadOnlyList<int> cachedPrefix = [];
        int contentFreeLength = options.Calibrations.Contains(Calibration.Contextual)
            ? options.ContentFreeInputs.Max(cf => packer.EncodeQuery(template.Fields.ToDictionary(f => f, _ => cf)).Length) : 0;

        var predictions = new List<PromptPrediction>(data.Count);
        foreach (var example in data.Examples)
        {
            string source = $"{data.Source}, line {example.Line}";
            var fields = Fields(example);
            var demos = fixedDemos ?? DemonstrationSelector.Nearest(poolVectors!, embed(EmbeddingText(example)), options.Shots);
            var (_, carry) = PromptPacker.SplitTrailingSpace(template.RenderQuery(fields));
            if (task == FineTuneTask.Span)
            {
                var packedSpan = packer.Pack(demos.Select(i => demoTexts[i]).ToList(), fields, options.MaxNewTokens, source);
                scorer.SetPrefix(packedSpan.Prefix);
                var ids = scorer.Greedy(packedSpan.Query, options.MaxNewTokens, id => id == tokenizer.EndOfTextId || tokenizer.Decode([id]).Contains('\n'));
                string text = tokenizer.Decode(ids.ToArray()).Split('\n')[0].Trim();
                predictions.Add(new PromptPrediction(example.Line, [], null, null, text, packedSpan.Demonstrations, packedSpan.QueryTruncated, options.Calibrations[0]));
                continue;
            }
            var candidates = Candidates(example);
            var candidateIds = candidates.Select(c => tokenizer.Encode(carry + c)).ToArray();
            foreach (var (c, ids) in candidates.Zip(candidateIds))
                if (ids.Length == 0) throw new InvalidInputException($"{source}: the answer '{c}' has no tokens");
            var packed = packer.Pack(demos.Select(i => demoTexts[i]).ToList(), fields, candidateIds.Max(c => c.Length), source, contentFreeLength);
            scorer.SetPrefix(packed.Prefix);
            if (!scorer.Prefix.SequenceEqual(cachedPrefix)) { contentFreeCache.Clear(); cachedPrefix = scorer.Prefix; }
            var raw = Reduce(scorer.Score(packed.Query, candidateIds), options.LengthNormalize);
            string key = string.Join('\u0001', candidates);

            double[]? contentFree = null, premise = null;
            if (options.Calibrations.Contains(Calibration.Contextual) && !contentFreeCache.TryGetValue(key, out contentFree))
            {
                var cfScores = options.ContentFreeInputs.Select(cf =>
                {
                    var cfFields = template.Fields.ToDictionary(f => f, _ => cf);
                    return Reduce(scorer.Score(packer.EncodeQuery(cfFields), candidateIds), options.LengthNormalize);
                }).ToList();
                contentFreeCache[key] = contentFree = PromptCalibration.ContentFreeProbabilities(cfScores);
            }
            if (options.Calibrations.Contains(Calibration.Pmi) && !premiseCache.TryGetValue(key, out premise))
                premiseCache[key] = premise = Reduce(premiseScorer.Score(premiseIds, candidateIds), options.LengthNormalize);
            predictions.Add(new PromptPrediction(example.Line, raw, contentFree, premise, null, packed.Demonstrations, packed.QueryTruncated, options.Calibrations[0]));
        }
        return new PromptRun(task, labels,
            labelled && task != FineTuneTask.Span ? data.Examples.Select(Gold).ToList() : null,
            labelled && task == FineTuneTask.Span ? data.Examples.Select(e => e.Label!).ToList() : null,
            predictions, scorer.PrefixPasses);
    }

    /// <summary>
    /// A text's vector for nearest-demonstration selection: the mean of the GPT's final hidden states over the text's
    /// tokens (the first <c>n_positions</c>), after &lt;|endoftext|&gt; when the tokenizer has one.
    /// </summary>
    public float[] Embed(string text)
    {
        int[] ids = [.. (tokenizer.EndOfTextId is int eot ? new[] { eot } : []), .. tokenizer.Encode(text)];
        if (ids.Length == 0) return new float[model.Config.NEmbd];
        ids = ids.Take(model.Config.NPositions).ToArray();
        using var mode = EvalMode.Enter(model);
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var h = model.Hidden(tensor(ids.Select(i => (long)i).ToArray(), 1, ids.Length));   // (1, T, C)
        return h[0].mean([0]).to_type(ScalarType.Float32).data<float>().ToArray();
    }

    static double[] Reduce(double[][] tokenLogProbs, bool mean) =>
        tokenLogProbs.Select(t => mean ? t.Average() : t.Sum()).ToArray();

    static string EmbeddingText(TaskExample e) => e.TextPair is null ? e.Text : e.Text + " " + e.TextPair;

    static Dictionary<string, string> Fields(TaskExample e)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal) { ["text"] = e.Text };
        if (e.TextPair is not null) d["text_pair"] = e.TextPair;
        return d;
    }
}
