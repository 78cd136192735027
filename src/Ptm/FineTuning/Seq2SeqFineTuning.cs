using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.FineTuning;

/// <summary>Settings of <see cref="Seq2SeqFineTuning.Train"/>.</summary>
public sealed record Seq2SeqTrainingOptions
{
    /// <summary>Passes over the examples.</summary>
    public int Epochs { get; init; } = 3;
    /// <summary>Examples per optimizer step.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>AdamW's learning rate, constant (BART fine-tunes at 1e-5 to 5e-5; tiny models from scratch want ~1e-3).</summary>
    public double LearningRate { get; init; } = 3e-5;
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
    /// <summary>Seeds the shuffling of examples (and dropout).</summary>
    public long Seed { get; init; } = 1;

    /// <summary>Checks every field; messages name the property.</summary>
    /// <exception cref="InvalidInputException">A field is out of range.</exception>
    public void Validate(BartConfig config)
    {
        void Require(bool ok, string name, string expected, object actual)
        {
            if (!ok) throw new InvalidInputException($"{nameof(Seq2SeqTrainingOptions)}.{name} must be {expected} (got {actual})");
        }
        Require(Epochs > 0, nameof(Epochs), "positive", Epochs);
        Require(BatchSize > 0, nameof(BatchSize), "positive", BatchSize);
        Require(LearningRate > 0, nameof(LearningRate), "positive", LearningRate);
        Require(WeightDecay >= 0, nameof(WeightDecay), "non-negative", WeightDecay);
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
    public static long[] EncodeSource(ITokenizer tokenizer, BartConfig config, string text, int maxLength)
    {
        var body = tokenizer.Encode(text).Take(Math.Max(0, maxLength - 2)).Select(i => (long)i);
        return [config.BosTokenId, .. body, config.EosTokenId];
    }

    /// <summary>Labels: text &lt;/s&gt;, cut to <paramref name="maxLength"/> with the end token kept.</summary>
    public static long[] EncodeTarget(ITokenizer tokenizer, BartConfig config, string text, int maxLength) =>
        [.. tokenizer.Encode(text).Take(maxLength - 1).Select(i => (long)i), config.EosTokenId];

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
        Seq2SeqTrainingOptions options, Action<int, double>? onEpoch = null)
    {
        var config = model.Config;
        options.Validate(config);
        if (examples.Count == 0) throw new InvalidInputException("no training examples");
        var encoded = examples.Select(e => (
            Source: EncodeSource(tokenizer, config, e.Source, options.MaxSourceLength ?? config.MaxPositionEmbeddings),
            Labels: EncodeTarget(tokenizer, config, e.Target ?? throw new InvalidInputException($"line {e.Line}: the example has no target"), options.MaxTargetLength ?? config.MaxPositionEmbeddings))).ToList();
        manual_seed(options.Seed);
        var rng = new Random((int)options.Seed);
        using var optimizer = Training.OptimizerFactory.AdamW(model, options.LearningRate, options.WeightDecay, 0.9, 0.999);
        var losses = new List<double>();
        model.train();
        try
        {
            for (int epoch = 0; epoch < options.Epochs; epoch++)
            {
                var order = Enumerable.Range(0, encoded.Count).OrderBy(_ => rng.Next()).ToArray();
                double sum = 0;
                int steps = 0;
                for (int start = 0; start < order.Length; start += options.BatchSize)
                {
                    using var scope = NewDisposeScope();
                    var batch = order.Skip(start).Take(options.BatchSize).Select(i => encoded[i]).ToList();
                    var (src, mask) = PadSources(batch.Select(b => b.Source).ToList(), config.PadTokenId);
                    var (labels, _) = PadSources(batch.Select(b => b.Labels).ToList(), -100); // (B, T), -100 where padded
                    var logits = model.forward(src, mask, model.ShiftTokensRight(labels)); // (B, T, V)
                    var loss = BartForConditionalGeneration.Loss(logits, labels, options.LabelSmoothing);
                    optimizer.zero_grad();
                    loss.backward();
                    optimizer.step();
                    sum += loss.item<float>();
                    steps++;
                }
                losses.Add(sum / steps);
                onEpoch?.Invoke(epoch + 1, sum / steps);
            }
        }
        finally { model.eval(); }
        return losses;
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
}
