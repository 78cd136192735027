using Ptm.Data;
using Ptm.FineTuning;
using Ptm.Generation;
using Ptm.Kernels;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>One noised sequence: the encoder's input (&lt;s&gt; noised &lt;/s&gt;) and the decoder's labels (original &lt;/s&gt;).</summary>
public sealed record DenoisingExample(long[] Source, long[] Labels);

/// <summary>
/// BART's pre-training objective (Lewis et al. 2019): the encoder reads a noised sequence, the decoder reconstructs the
/// original by teacher forcing, and the loss is the cross-entropy of every target token (&lt;/s&gt; included),
/// normalised by the whole step's target tokens so gradient accumulation equals one larger batch.
/// </summary>
/// <remarks>Micro-batch i holds positions i·B .. i·B+B-1 of an endless stream: epoch e visits every training sequence
/// once in an order drawn from (seed, e), and the noise of stream position p is drawn from (seed, p). A batch is thus a
/// pure function of its index, so resumed runs see the same data. Validation sequences are noised from a fixed seed.</remarks>
public sealed class DenoisingObjective : IDataParallelObjective
{
    const ulong ValidationSalt = 0x5EED_0F_BA27UL;
    readonly BartForConditionalGeneration model;
    readonly DenoisingData data;
    readonly DenoisingNoiser noiser;
    readonly int batchSize;
    readonly ulong seed;
    (long Epoch, int[] Order)? order;

    /// <summary>An objective over <paramref name="data"/> with micro-batches of <paramref name="batchSize"/> sequences.</summary>
    /// <exception cref="InvalidInputException">the tokenizer lacks BART's specials, or they disagree with the model's config</exception>
    public DenoisingObjective(BartForConditionalGeneration model, DenoisingData data, DenoisingOptions noise, int batchSize, long seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        this.model = model;
        this.data = data;
        this.batchSize = batchSize;
        this.seed = (ulong)seed;
        var c = model.Config;
        foreach (var (field, id, token) in new[] { ("bos_token_id", c.BosTokenId, BartVocabulary.Bos), ("pad_token_id", c.PadTokenId, BartVocabulary.Pad), ("eos_token_id", c.EosTokenId, BartVocabulary.Eos) })
            if (BartVocabulary.Id(data.Tokenizer, token, "denoising data") != id)
                throw new InvalidInputException($"model config: field '{field}' is {id} but the tokenizer's {token} is {BartVocabulary.Id(data.Tokenizer, token, "denoising data")}");
        noiser = new DenoisingNoiser(noise, BartVocabulary.Id(data.Tokenizer, BartVocabulary.Mask, "denoising data"));
    }

    /// <inheritdoc />
    public nn.Module Model => model;

    /// <summary>The noise applied to each sequence.</summary>
    public DenoisingOptions Noise => noiser.Options;

    /// <summary>Sequence <paramref name="sentences"/> noised with <paramref name="rng"/>, wrapped in &lt;s&gt; … &lt;/s&gt;
    /// (source cut to the data's sequence length, the end token kept) with its labels.</summary>
    public DenoisingExample Make(IReadOnlyList<int[]> sentences, ref SplitMix64 rng)
    {
        var (source, target) = noiser.Noise(sentences, ref rng);
        var c = model.Config;
        var body = source.Take(data.MaxSeqLength - 2).Select(i => (long)i);
        return new DenoisingExample([c.BosTokenId, .. body, c.EosTokenId], [.. target.Select(i => (long)i), c.EosTokenId]);
    }

    /// <summary>The examples of training micro-batch <paramref name="index"/>.</summary>
    public IReadOnlyList<DenoisingExample> TrainBatch(long index)
    {
        var examples = new List<DenoisingExample>(batchSize);
        long n = data.Train.Length;
        for (int j = 0; j < batchSize; j++)
        {
            long position = index * batchSize + j;
            int[] epochOrder = OrderOf(position / n);
            var rng = SplitMix64.ForStep(seed, position);
            examples.Add(Make(data.Train[epochOrder[position % n]], ref rng));
        }
        return examples;
    }

    /// <summary>Validation sequence <paramref name="i"/>, noised from a fixed seed (the same on every call).</summary>
    public DenoisingExample ValidationExample(int i)
    {
        var rng = SplitMix64.ForStep(seed ^ ValidationSalt, i);
        return Make(data.Validation[i], ref rng);
    }

    int[] OrderOf(long epoch)
    {
        if (order is { } o && o.Epoch == epoch) return o.Order;
        var permutation = Enumerable.Range(0, data.Train.Length).ToArray();
        var rng = SplitMix64.ForStep(SplitMix64.Mix(seed), epoch);
        rng.Shuffle(permutation);
        order = (epoch, permutation);
        return permutation;
    }

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count) => ForwardBackward(firstIndex, count, _ => { });

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count, Action<long[]> sumCounts)
    {
        var batches = Enumerable.Range(0, count).Select(m => TrainBatch(firstIndex + m)).ToList();
        long tokens = batches.Sum(b => b.Sum(e => (long)e.Labels.Length));
        long[] total = [tokens];
        sumCounts(total);
        double loss = 0;
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var l = BatchLoss(batch, total[0], out _);
            l.backward();
            loss += l.item<float>();
        }
        return new StepOutcome(loss, tokens, new Dictionary<string, double>());
    }

    /// <summary>Summed cross-entropy of the batch's labels divided by <paramref name="normalizer"/>, and the number of
    /// labels the argmax got right.</summary>
    Tensor BatchLoss(IReadOnlyList<DenoisingExample> batch, long normalizer, out long correct)
    {
        var c = model.Config;
        var (src, mask) = Seq2SeqFineTuning.PadSources(batch.Select(e => e.Source).ToList(), c.PadTokenId); // (B, S)
        var (labels, _) = Seq2SeqFineTuning.PadSources(batch.Select(e => e.Labels).ToList(), -100);       // (B, T)
        var logits = model.forward(src, mask, model.ShiftTokensRight(labels));                             // (B, T, V)
        using (no_grad())
            correct = logits.argmax(-1).eq(labels).sum().item<long>();
        return Ops.CrossEntropy(logits.view(-1, logits.shape[^1]), labels.view(-1), normalizer);
    }

    /// <summary>Over the first <paramref name="maxBatches"/> batches of validation sequences, each noised from a fixed
    /// seed: "loss" (nats per target token), "ppl" and "acc" (teacher-forced next-token accuracy).</summary>
    public IReadOnlyDictionary<string, double> Evaluate(int maxBatches)
    {
        int n = (int)Math.Min(data.Validation.Length, (long)maxBatches * batchSize);
        var examples = Enumerable.Range(0, n).Select(ValidationExample).ToList();
        long tokens = examples.Sum(e => (long)e.Labels.Length);
        double loss = 0;
        long correct = 0;
        for (int start = 0; start < n; start += batchSize)
        {
            using var scope = NewDisposeScope();
            loss += BatchLoss(examples.Skip(start).Take(batchSize).ToList(), tokens, out long right).item<float>();
            correct += right;
        }
        return new Dictionary<string, double> { ["loss"] = loss, ["ppl"] = Math.Exp(loss), ["acc"] = (double)correct / tokens };
    }

    /// <summary>
    /// The first <paramref name="count"/> validation sequences with their noised input and the model's greedy
    /// reconstruction of it (at most the data's sequence length), as text. Puts the model in eval mode.
    /// </summary>
    public IReadOnlyList<(string Original, string Noised, string Reconstruction)> Reconstruct(int count)
    {
        model.eval();
        var tokenizer = data.Tokenizer;
        var c = model.Config;
        var examples = Enumerable.Range(0, Math.Min(count, data.Validation.Length)).Select(ValidationExample).ToList();
        if (examples.Count == 0) return [];
        using var scope = NewDisposeScope();
        var (src, mask) = Seq2SeqFineTuning.PadSources(examples.Select(e => e.Source).ToList(), c.PadTokenId);
        int capacity = Math.Min(c.MaxPositionEmbeddings, data.MaxSeqLength);
        using var decoder = new Seq2SeqStepDecoder(model, src, mask, capacity: capacity);
        var outputs = StepSearches.Greedy(decoder, capacity - 1, c.EosTokenId);
        string Text(IEnumerable<long> ids) => tokenizer.Decode(ids.Select(i => (int)i).ToArray());
        return examples.Select((e, i) => (Text(e.Labels.SkipLast(1)), Text(e.Source.Skip(1).SkipLast(1)), tokenizer.Decode(outputs[i]))).ToList();
    }

    /// <summary>Writes the model as a BART model folder (config.json, model.safetensors, vocab.json, merges.txt), which
    /// <see cref="ModelFolder.LoadBart"/> loads for fine-tuning.</summary>
    public void SaveModel(string directory) => ModelFolder.SaveModel(directory, model, data.Tokenizer);
}
