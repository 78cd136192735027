using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.FineTuning;

/// <summary>Settings of Seq2SeqFineTuning.Train and <see cref="Seq2SeqRun.Run"/>.</summary>
public sealed record Seq2SeqTrainingOptions
{
    /// <summary>Passes over the examples.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Examples per optimizer step.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>AdamW's peak learning rate (BART fine-tunes at 1e-5 to 5e-5; tiny models from scratch want ~1e-3).
    /// The rate rises linearly over the first <see cref="WarmupRatio"/> of the steps, then follows a half cosine to 0
    /// at the last step, as the other fine-tuning tasks do.</summary>
    public double LearningRate { get; init; } = 3e-5;
    /// <summary>Share of all optimizer steps spent warming the learning rate up from 0, in [0, 1); a post-LN model
    /// trained from scratch needs some, or its first updates at the full rate can stall it.</summary>
    public double WarmupRatio { get; init; } = 0.1;
    /// <summary>Global L2 norm the gradients are clipped to before each update (Hugging Face's <c>max_grad_norm</c>);
    /// 0 turns clipping off.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>AdamW's decoupled weight decay on matrices.</summary>
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>Label smoothing ε of the cross-entropy, in [0, 1) (BART's summarisation and translation runs use 0.1).</summary>
    public double LabelSmoothing { get; init; }
    /// <summary>Longest source in tokens, &lt;s&gt; and &lt;/s&gt; included; longer sources are cut (the end token kept).
    /// Null: <c>max_position_embeddings</c>.</summary>
    public int? MaxSourceLength { get; init; }
    /// <summary>Longest target in tokens, &lt;/s&gt; included; longer targets are cut (the end token kept).
    /// Null: <c>max_position_embeddings</c>.</summary>
    public int? MaxTargetLength { get; init; }
    /// <summary>Dropout of the model <see cref="Seq2SeqRun.Run"/> trains (<c>dropout</c> in its config.json, saved with
    /// the run), as Hugging Face's <c>from_pretrained(..., dropout=x)</c> sets it; null keeps the model folder's. Small
    /// translation sets overfit at BART's 0.1. <see cref="Seq2SeqFineTuning.Train(BartForConditionalGeneration, ITokenizer, IReadOnlyList{Seq2SeqExample}, IReadOnlyList{Seq2SeqExample}?, Seq2SeqTrainingOptions, Action{Seq2SeqEpoch}?)"/>
    /// trains the model it is given and requires null or that model's value (<see cref="Seq2SeqFineTuning.WithDropout"/>
    /// changes it).</summary>
    public double? Dropout { get; init; }
    /// <summary>Seeds the shuffling of examples (and dropout).</summary>
    public long Seed { get; init; } = 1;
    /// <summary>Which validation measure picks the epoch the run keeps (Hugging Face's <c>metric_for_best_model</c>):
    /// the lowest teacher-forced loss, or the highest corpus BLEU of greedy translations of the validation sources
    /// (one extra decode per epoch). BLEU needs a validation set.</summary>
    public Seq2SeqBestModelMetric BestModelMetric { get; init; } = Seq2SeqBestModelMetric.Loss;
    /// <summary>When above 1, the element-wise mean of the weights after the last N epochs (fairseq's
    /// <c>average_checkpoints</c>) is scored on validation like one more epoch and kept when it scores at least as well
    /// as the best single epoch; without a validation set the mean is kept. 1 (the default) averages nothing.</summary>
    public int AverageLastEpochs { get; init; } = 1;
    /// <summary>Share of source tokens (not &lt;s&gt; or &lt;/s&gt;) replaced by &lt;mask&gt; in each training batch, drawn afresh
    /// every time (word dropout on the source, Marian's <c>--dropout-src</c> done as a token replacement), in [0, 1);
    /// a regulariser for small translation sets. Needs a BART vocabulary with &lt;mask&gt;.</summary>
    public double SourceTokenDropout { get; init; }
    /// <summary>The same for the decoder's inputs (the shifted target, not its start token), so it leans less on the
    /// previous word (Marian's <c>--dropout-trg</c>); the labels are never changed. In [0, 1).</summary>
    public double TargetTokenDropout { get; init; }
    /// <summary>BPE-dropout (Provilkov et al., 2020; the <c>dropout</c> of a Hugging Face BPE model) on the training
    /// pairs: every epoch the sources and targets are tokenised afresh with each applicable merge skipped with this
    /// probability, so rare words are also seen in their finer pieces; validation, scoring and decoding use plain BPE.
    /// In [0, 1); the paper uses 0.1. Needs a byte-level BPE tokenizer.</summary>
    public double BpeDropout { get; init; }

    /// <summary>Checks every field; messages name the property.</summary>
    /// <exception cref="InvalidOptionException">A field is out of range.</exception>
    public void Validate(BartConfig config)
    {
        void Require(bool ok, string name, string expected, object actual)
        {
            if (!ok) throw new InvalidOptionException(nameof(Seq2SeqTrainingOptions), name, $"must be {expected}", actual);
        }
        Require(Epochs > 0, nameof(Epochs), "positive", Epochs);
        Require(BatchSize > 0, nameof(BatchSize), "positive", BatchSize);
        Require(LearningRate > 0, nameof(LearningRate), "positive", LearningRate);
        Require(WeightDecay >= 0, nameof(WeightDecay), "non-negative", WeightDecay);
        Require(WarmupRatio is >= 0 and < 1, nameof(WarmupRatio), "in [0, 1)", WarmupRatio);
        Require(MaxGradNorm >= 0, nameof(MaxGradNorm), "non-negative (0 turns clipping off)", MaxGradNorm);
        Require(Dropout is null || Dropout is >= 0 and < 1, nameof(Dropout), "in [0, 1)", Dropout!);
        Require(Enum.IsDefined(BestModelMetric), nameof(BestModelMetric), "Loss or Bleu", BestModelMetric);
        Require(SourceTokenDropout is >= 0 and < 1, nameof(SourceTokenDropout), "in [0, 1)", SourceTokenDropout);
        Require(TargetTokenDropout is >= 0 and < 1, nameof(TargetTokenDropout), "in [0, 1)", TargetTokenDropout);
        Require(BpeDropout is >= 0 and < 1, nameof(BpeDropout), "in [0, 1)", BpeDropout);
        Require(AverageLastEpochs >= 1 && AverageLastEpochs <= Epochs, nameof(AverageLastEpochs), $"in [1, Epochs = {Epochs}]", AverageLastEpochs);
        Require(LabelSmoothing is >= 0 and < 1, nameof(LabelSmoothing), "in [0, 1)", LabelSmoothing);
        Require(MaxSourceLength is null || (MaxSourceLength >= 2 && MaxSourceLength <= config.MaxPositionEmbeddings), nameof(MaxSourceLength), $"in [2, max_position_embeddings = {config.MaxPositionEmbeddings}]", MaxSourceLength!);
        Require(MaxTargetLength is null || (MaxTargetLength >= 1 && MaxTargetLength <= config.MaxPositionEmbeddings), nameof(MaxTargetLength), $"in [1, max_position_embeddings = {config.MaxPositionEmbeddings}]", MaxTargetLength!);
    }
}

/// <summary>
/// Fine-tuning an encoder–decoder model on (source, target) pairs by teacher forcing, and writing targets for new
/// sources. A source is encoded as &lt;s&gt; tokens &lt;/s&gt;; the labels are the target's tokens followed by
/// &lt;/s&gt;, and the decoder reads them shifted right behind <c>decoder_start_token_id</c>
/// (<see cref="BartForConditionalGeneration.ShiftTokensRight"/>), so decoding starts from that token and stops at &lt;/s&gt;.
/// </summary>
public static class Seq2SeqFineTuning
{
    /// <summary>Source token ids: &lt;s&gt; text &lt;/s&gt;, cut to <paramref name="maxLength"/> with the end token kept.</summary>
    public static long[] EncodeSource(ITokenizer tokenizer, BartConfig config, string text, int maxLength) =>
        Source(tokenizer.Encode(text), config, maxLength);

    /// <summary>Labels: text &lt;/s&gt;, cut to <paramref name="maxLength"/> with the end token kept.</summary>
    public static long[] EncodeTarget(ITokenizer tokenizer, BartConfig config, string text, int maxLength) =>
        Target(tokenizer.Encode(text), config, maxLength);

    static long[] Source(int[] tokens, BartConfig config, int maxLength) =>
        [config.BosTokenId, .. tokens.Take(Math.Max(0, maxLength - 2)).Select(i => (long)i), config.EosTokenId];

    static long[] Target(int[] tokens, BartConfig config, int maxLength) =>
        [.. tokens.Take(maxLength - 1).Select(i => (long)i), config.EosTokenId];

    /// <summary>Sources (B, S) right-padded with <c>pad_token_id</c> and their mask (B, S), 1 at real tokens.</summary>
    public static (Tensor Ids, Tensor Mask) PadSources(IReadOnlyList<long[]> rows, int padId)
    {
        int S = rows.Max(r => r.Length);
        var ids = new long[rows.Count * S];
        var mask = new long[rows.Count * S];
        Array.Fill(ids, padId);
        for (int b = 0; b < rows.Count; b++)
            for (int t = 0; t < rows[b].Length; t++) { ids[b * S + t] = rows[b][t]; mask[b * S + t] = 1; }
        return (tensor(ids, rows.Count, S), tensor(mask, rows.Count, S));
    }

    /// <summary>
    /// Trains <paramref name="model"/> in place on <paramref name="examples"/> (targets required) with AdamW and
    /// teacher forcing; returns the mean training loss of each epoch. Leaves the model in eval mode.
    /// </summary>
    /// <exception cref="InvalidInputException">An option is out of range, or an example has no target.</exception>
    public static IReadOnlyList<double> Train(BartForConditionalGeneration model, ITokenizer tokenizer, IReadOnlyList<Seq2SeqExample> examples,
        Seq2SeqTrainingOptions options, Action<int, double>? onEpoch = null) =>
        Train(model, tokenizer, examples, null, options, onEpoch is null ? null : e => onEpoch(e.Epoch, e.TrainLoss))
            .Epochs.Select(e => e.TrainLoss).ToList();

    /// <summary>
    /// Trains <paramref name="model"/> in place as <see cref="Train(BartForConditionalGeneration, ITokenizer, IReadOnlyList{Seq2SeqExample}, Seq2SeqTrainingOptions, Action{int, double}?)"/>
    /// does and, when <paramref name="validation"/> is given, measures the validation loss after every epoch
    /// (<see cref="ValidationLoss"/>), and greedy BLEU when <see cref="Seq2SeqTrainingOptions.BestModelMetric"/> says
    /// so, and ends with the weights of the epoch that scored best (the earlier epoch on a tie), as Hugging Face's
    /// <c>load_best_model_at_end</c> does, or with the mean of the last epochs' weights when
    /// <see cref="Seq2SeqTrainingOptions.AverageLastEpochs"/> asks for it and it scores no worse. Without validation the
    /// last epoch (or the mean) is kept. Leaves the model in eval mode.
    /// </summary>
    /// <exception cref="InvalidInputException">An option is out of range, or an example has no target.</exception>
    public static Seq2SeqTrainingResult Train(BartForConditionalGeneration model, ITokenizer tokenizer, IReadOnlyList<Seq2SeqExample> examples,
        IReadOnlyList<Seq2SeqExample>? validation, Seq2SeqTrainingOptions options, Action<Seq2SeqEpoch>? onEpoch = null)
    {
        var config = model.Config;
        options.Validate(config);
        if (options.Dropout is { } dropout && dropout != config.Dropout)
            throw new InvalidOptionException(nameof(Seq2SeqTrainingOptions), nameof(Seq2SeqTrainingOptions.Dropout),
                $"must be null or the model's dropout ({config.Dropout}); WithDropout builds the model with another", dropout);
        if (options.BestModelMetric == Seq2SeqBestModelMetric.Bleu && validation is null)
            throw new InvalidOptionException(nameof(Seq2SeqTrainingOptions), nameof(Seq2SeqTrainingOptions.BestModelMetric),
                "must be Loss when there is no validation set (BLEU is measured on it)", options.BestModelMetric);
        if (examples.Count == 0) throw new InvalidInputException("no training examples");
        if (validation is { Count: 0 }) throw new InvalidInputException("no validation examples");
        var encoded = Encode(tokenizer, config, examples, options);
        var encodedValidation = validation is null ? null : Encode(tokenizer, config, validation, options);
        long maskId = options.SourceTokenDropout > 0 || options.TargetTokenDropout > 0 ? MaskId(tokenizer) : -1;
        var dropoutBpe = options.BpeDropout > 0 ? RequireBpe(tokenizer, nameof(Seq2SeqTrainingOptions.BpeDropout)) : null;
        var segmentationRandom = new Random((int)options.Seed + 1); // its own stream, so the shuffling stays the same
        manual_seed(options.Seed);
        var rng = new Random((int)options.Seed);
        using var optimizer = Training.OptimizerFactory.AdamW(model, options.LearningRate, options.WeightDecay, 0.9, 0.999);
        var schedule = Schedule(options, encoded.Count);
        var parameters = model.parameters().Where(p => p.requires_grad).ToList();
        int step = 0;
        var epochs = new List<Seq2SeqEpoch>();
        var best = new Seq2SeqBestWeights(options.BestModelMetric);
        var recent = new Queue<WeightSnapshot>(); // the last AverageLastEpochs epochs' weights, oldest first
        Seq2SeqAverage? average = null;
        try
        {
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                model.train();
                var order = Enumerable.Range(0, encoded.Count).OrderBy(_ => rng.Next()).ToArray();
                var pairs = dropoutBpe is null ? encoded
                    : Encode(text => dropoutBpe.EncodeWithDropout(text, options.BpeDropout, segmentationRandom), config, examples, options);
                double sum = 0;
                int steps = 0;
                for (int start = 0; start < order.Length; start += options.BatchSize)
                {
                    using var scope = NewDisposeScope();
                    var batch = order.Skip(start).Take(options.BatchSize).Select(i => pairs[i]).ToList();
                    var (src, mask) = PadSources(batch.Select(b => b.Source).ToList(), config.PadTokenId);
                    var (labels, _) = PadSources(batch.Select(b => b.Labels).ToList(), -100); // (B, T), -100 where padded
                    var decoderInput = model.ShiftTokensRight(labels); // (B, T)
                    if (options.SourceTokenDropout > 0) src = DropTokens(src, mask.logical_and(src.ne(config.BosTokenId)).logical_and(src.ne(config.EosTokenId)), options.SourceTokenDropout, maskId);
                    if (options.TargetTokenDropout > 0) decoderInput = DropTokens(decoderInput, labels.ne(-100).logical_and(arange(labels.shape[1]).ne(0)), options.TargetTokenDropout, maskId);
                    var logits = model.forward(src, mask, decoderInput); // (B, T, V)
                    var loss = BartForConditionalGeneration.Loss(logits, labels, options.LabelSmoothing);
                    optimizer.zero_grad();
                    loss.backward();
                    if (options.MaxGradNorm > 0) nn.utils.clip_grad_norm_(parameters, options.MaxGradNorm);
                    Training.OptimizerFactory.SetLearningRate(optimizer, schedule.At(step++));
                    optimizer.step();
                    sum += loss.item<float>();
                    steps++;
                }
                model.eval();
                var (validationLoss, validationBleu) = Score(model, tokenizer, validation, encodedValidation, options);
                var report = new Seq2SeqEpoch(epoch + 1, sum / steps, validationLoss, validationBleu);
                epochs.Add(report);
                best.Offer(model, epoch + 1, validationLoss, validationBleu);
                if (options.AverageLastEpochs > 1)
                {
                    if (recent.Count == options.AverageLastEpochs) recent.Dequeue().Dispose();
                    recent.Enqueue(WeightSnapshot.Of(model));
                }
                onEpoch?.Invoke(report);
            }
            if (options.AverageLastEpochs > 1)
            {
                using var last = WeightSnapshot.Of(model);
                WeightSnapshot.LoadMean(model, recent);
                var (loss, bleu) = Score(model, tokenizer, validation, encodedValidation, options);
                bool kept = validation is null || best.IsAtLeastAsGoodAs(loss, bleu);
                average = new Seq2SeqAverage(options.Epochs - options.AverageLastEpochs + 1, options.Epochs, loss, bleu, kept);
                if (!kept) last.LoadInto(model);
            }
            if (average is not { Kept: true } && best.Epoch is > 0 && best.Epoch != options.Epochs) best.Weights!.LoadInto(model);
        }
        finally
        {
            model.eval();
            best.Dispose();
            foreach (var weights in recent) weights.Dispose();
        }
        int bestEpoch = validation is null || best.Epoch == 0 ? options.Epochs : best.Epoch;
        return new Seq2SeqTrainingResult(epochs, bestEpoch, average);
    }

    // Validation loss and, when BLEU picks the kept epoch, greedy BLEU; both null without a validation set.
    static (double? Loss, double? Bleu) Score(BartForConditionalGeneration model, ITokenizer tokenizer, IReadOnlyList<Seq2SeqExample>? validation,
        List<(long[] Source, long[] Labels)>? encodedValidation, Seq2SeqTrainingOptions options)
    {
        if (validation is null || encodedValidation is null) return (null, null);
        double loss = MeanLoss(model, model.Config, encodedValidation, options.BatchSize);
        if (options.BestModelMetric != Seq2SeqBestModelMetric.Bleu) return (loss, null);
        int maxPositions = model.Config.MaxPositionEmbeddings;
        var hypotheses = Predict(model, tokenizer, validation.Select(e => e.Source).ToList(), maxNewTokens: options.MaxTargetLength ?? maxPositions,
            maxSourceLength: options.MaxSourceLength ?? maxPositions, batchSize: options.BatchSize);
        return (loss, Evaluation.Seq2SeqScore.Of(hypotheses, validation).Bleu.Score);
    }

    // Each token where `eligible` is true becomes `maskId` with probability p (torch's generator, seeded by the run).
    internal static Tensor DropTokens(Tensor ids, Tensor eligible, double p, long maskId) =>
        ids.masked_fill(rand(ids.shape).lt(p).logical_and(eligible), maskId);

    static long MaskId(ITokenizer tokenizer) =>
        Data.BartVocabulary.Id(RequireBpe(tokenizer, nameof(Seq2SeqTrainingOptions.SourceTokenDropout), $" with {Data.BartVocabulary.Mask}"),
            Data.BartVocabulary.Mask, $"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.SourceTokenDropout)}/{nameof(Seq2SeqTrainingOptions.TargetTokenDropout)}");

    // The options that work on BPE tokens name themselves when the model's tokenizer is another kind.
    static ByteLevelBpeTokenizer RequireBpe(ITokenizer tokenizer, string option, string needs = "") => tokenizer as ByteLevelBpeTokenizer
        ?? throw new InvalidOptionException(nameof(Seq2SeqTrainingOptions), option,
            $"needs a byte-level BPE tokenizer{needs} (this model's is {tokenizer.Kind})", tokenizer.Kind);

    /// <summary>
    /// Mean per-token cross-entropy (no label smoothing, so runs trained with different ε compare) of the targets of
    /// <paramref name="examples"/> under teacher forcing, in eval mode; sources and targets are cut as
    /// <paramref name="options"/> says.
    /// </summary>
    /// <exception cref="InvalidInputException">An example has no target.</exception>
    public static double ValidationLoss(BartForConditionalGeneration model, ITokenizer tokenizer, IReadOnlyList<Seq2SeqExample> examples,
        Seq2SeqTrainingOptions options)
    {
        options.Validate(model.Config);
        if (examples.Count == 0) throw new InvalidInputException("no validation examples");
        bool training = model.training;
        model.eval();
        try { return MeanLoss(model, model.Config, Encode(tokenizer, model.Config, examples, options), options.BatchSize); }
        finally { if (training) model.train(); }
    }

    /// <summary>
    /// A freshly initialised model of <paramref name="config"/> (BART's initialisation, drawn from
    /// <paramref name="seed"/>): the same architecture and vocabulary as a pre-trained folder's, so that a run from it
    /// and a run from the pre-trained weights differ only in where the weights start.
    /// </summary>
    public static BartForConditionalGeneration FromScratch(BartConfig config, long seed)
    {
        manual_seed(seed);
        var model = new BartForConditionalGeneration(config);
        model.eval();
        return model;
    }

    /// <summary>
    /// The same model with another <c>dropout</c>: a new instance of <paramref name="model"/>'s config with
    /// <see cref="BartConfig.Dropout"/> = <paramref name="dropout"/>, holding copies of its weights, in eval mode.
    /// <paramref name="model"/> is left as it was (the caller still owns and disposes it).
    /// </summary>
    public static BartForConditionalGeneration WithDropout(BartForConditionalGeneration model, double dropout)
    {
        if (dropout is not (>= 0 and < 1)) throw new InvalidOptionException(nameof(BartConfig), nameof(BartConfig.Dropout), "must be in [0, 1)", dropout);
        var config = model.Config with { Dropout = dropout };
        var copy = new BartForConditionalGeneration(config);
        using (no_grad())
        {
            var source = model.state_dict();
            foreach (var (name, t) in copy.state_dict()) t.copy_(source[name]);
        }
        copy.eval();
        return copy;
    }

    // Warm-up over WarmupRatio of every step of every epoch, then a half cosine to 0 at the last step.
    internal static Training.LearningRateSchedule Schedule(Seq2SeqTrainingOptions options, int exampleCount)
    {
        int totalSteps = (exampleCount + options.BatchSize - 1) / options.BatchSize * options.Epochs;
        return new Training.LearningRateSchedule(options.LearningRate, 0, (int)Math.Round(options.WarmupRatio * totalSteps), totalSteps);
    }

    static List<(long[] Source, long[] Labels)> Encode(ITokenizer tokenizer, BartConfig config, IReadOnlyList<Seq2SeqExample> examples, Seq2SeqTrainingOptions options) =>
        Encode(tokenizer.Encode, config, examples, options);

    static List<(long[] Source, long[] Labels)> Encode(Func<string, int[]> encode, BartConfig config, IReadOnlyList<Seq2SeqExample> examples, Seq2SeqTrainingOptions options) =>
        examples.Select(e => (
            Source: Source(encode(e.Source), config, options.MaxSourceLength ?? config.MaxPositionEmbeddings),
            Labels: Target(encode(e.Target ?? throw new InvalidInputException($"line {e.Line}: the example has no target")), config, options.MaxTargetLength ?? config.MaxPositionEmbeddings))).ToList();

    // Token-weighted mean cross-entropy over every labelled position (eval mode, no gradients).
    static double MeanLoss(BartForConditionalGeneration model, BartConfig config, List<(long[] Source, long[] Labels)> encoded, int batchSize)
    {
        using var _ = no_grad();
        double total = 0;
        long tokens = 0;
        for (int start = 0; start < encoded.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var batch = encoded.Skip(start).Take(batchSize).ToList();
            var (src, mask) = PadSources(batch.Select(b => b.Source).ToList(), config.PadTokenId);
            var (labels, _) = PadSources(batch.Select(b => b.Labels).ToList(), -100);
            var logits = model.forward(src, mask, model.ShiftTokensRight(labels)); // (B, T, V)
            var sum = nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), labels.view(-1), ignore_index: -100, reduction: nn.Reduction.Sum);
            total += sum.item<float>();
            tokens += batch.Sum(b => b.Labels.Length);
        }
        return total / tokens;
    }

    /// <summary>
    /// Targets for <paramref name="sources"/>, decoded in batches of <paramref name="batchSize"/> by
    /// <paramref name="search"/> over a <see cref="Seq2SeqStepDecoder"/> (greedy by default; beam search has the same
    /// signature), each at most <paramref name="maxNewTokens"/> tokens.
    /// </summary>
    public static IReadOnlyList<string> Predict(BartForConditionalGeneration model, ITokenizer tokenizer, IReadOnlyList<string> sources,
        int maxNewTokens = 128, int maxSourceLength = 128, int batchSize = 16, StepSearch? search = null)
    {
        search ??= StepSearches.Greedy;
        var config = model.Config;
        int capacity = Math.Min(config.MaxPositionEmbeddings, maxNewTokens + 1);
        var results = new List<string>(sources.Count);
        for (int start = 0; start < sources.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var rows = sources.Skip(start).Take(batchSize).Select(s => EncodeSource(tokenizer, config, s, Math.Min(maxSourceLength, config.MaxPositionEmbeddings))).ToList();
            var (src, mask) = PadSources(rows, config.PadTokenId);
            using var decoder = new Seq2SeqStepDecoder(model, src, mask, capacity: Math.Max(2, capacity));
            foreach (var ids in search(decoder, maxNewTokens, config.EosTokenId)) results.Add(tokenizer.Decode(ids));
        }
        return results;
    }
    /// <summary>
    /// One target per source, decoded in batches as <paramref name="options"/> says: greedily, or by beam search
    /// (<see cref="BeamSearch.Run"/>, the best hypothesis) when <see cref="Seq2SeqDecodingOptions.Beam"/> is set. The
    /// model is used as it is (call it in eval mode); targets are decoded text without the end token.
    /// </summary>
    /// <exception cref="InvalidOptionException">An option is out of range.</exception>
    public static IReadOnlyList<string> Translate(BartForConditionalGeneration model, ITokenizer tokenizer, IReadOnlyList<string> sources,
        Seq2SeqDecodingOptions? options = null)
    {
        options ??= new Seq2SeqDecodingOptions();
        options.Validate();
        var config = model.Config;
        int maxSource = Math.Min(options.MaxSourceLength ?? config.MaxPositionEmbeddings, config.MaxPositionEmbeddings);
        if (options.Beam is null)
            return Predict(model, tokenizer, sources, options.MaxNewTokens, maxSource, options.BatchSize);
        var beam = options.Beam with { EosTokenId = config.EosTokenId, PadTokenId = config.PadTokenId, MaxNewTokens = options.MaxNewTokens };
        int capacity = Math.Max(2, Math.Min(config.MaxPositionEmbeddings, options.MaxNewTokens + 1));
        var results = new List<string>(sources.Count);
        for (int start = 0; start < sources.Count; start += options.BatchSize)
        {
            using var scope = NewDisposeScope();
            var rows = sources.Skip(start).Take(options.BatchSize).Select(s => EncodeSource(tokenizer, config, s, maxSource)).ToList();
            var (src, mask) = PadSources(rows, config.PadTokenId);
            using var decoder = new Seq2SeqStepDecoder(model, src, mask, capacity: capacity);
            foreach (var found in BeamSearch.Run(decoder, beam))
            {
                // A hypothesis that ended keeps its end token as the last; one cut at the length limit has none.
                int[] ids = found.Count == 0 ? [] : found[0].Tokens;
                if (ids.Length > 0 && ids[^1] == config.EosTokenId) ids = ids[..^1];
                results.Add(tokenizer.Decode(ids));
            }
        }
        return results;
    }
}
