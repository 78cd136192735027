using Ptm.Data;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>
/// BERT pre-training: masked-LM loss over the chosen positions plus the sentence-pair loss (NSP or SOP) over
/// the sequences that carry a pair label. Each term is a mean over the whole step's positions (or pairs), so
/// gradient accumulation equals one larger batch, as for GPT.
/// </summary>
public sealed class MaskedLmObjective(BertForPreTraining model, WordPieceTokenizer tokenizer, BertBatcher train, BertBatcher validation)
    : IDataParallelObjective
{
    const int Ignore = MlmMasker.IgnoreLabel;

    /// <inheritdoc />
    public nn.Module Model => model;

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count) => ForwardBackward(firstIndex, count, _ => { });

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count, Action<long[]> sumCounts)
    {
        var batches = Enumerable.Range(0, count).Select(m => train.GetBatch(firstIndex + m)).ToList();
        long[] totals = [batches.Sum(b => b.MlmLabels.LongCount(l => l != Ignore)), batches.Sum(b => b.NspLabels.LongCount(l => l != Ignore))];
        sumCounts(totals); // masked positions and labelled pairs of the whole step, over every rank
        long masked = totals[0], pairs = totals[1];
        var sums = new Sums();
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var (inputs, mlmLabels, pairLabels) = ToTensors(batch);
            var (mlmLogits, chosenLabels, pairLogits) = model.ForwardMasked(inputs, mlmLabels);
            var loss = sums.Add(mlmLogits, pairLogits, chosenLabels, pairLabels, masked, pairs);
            loss.backward();
        }
        long tokens = batches.Sum(b => b.AttentionMask.LongCount(m => m != 0));
        return new StepOutcome(sums.MlmLoss + sums.PairLoss, tokens, sums.Metrics());
    }

    /// <summary>Over the first <paramref name="maxBatches"/> validation batches: "loss" (masked-LM plus pair loss),
    /// "mlm_loss", "mlm_acc" (per masked token), "word_acc" and "content_acc" (per masked word, and per masked content
    /// word: <see cref="MaskedWordAccuracy"/>) and, where sequences carry pair labels, "pair_loss" and "pair_acc".</summary>
    /// <exception cref="InvalidInputException">the validation batches have no masked position</exception>
    public IReadOnlyDictionary<string, double> Evaluate(int maxBatches)
    {
        var batches = validation.Sequential((long)maxBatches * validation.BatchSize).ToList();
        long masked = batches.Sum(b => b.MlmLabels.LongCount(l => l != Ignore));
        long pairs = batches.Sum(b => b.NspLabels.LongCount(l => l != Ignore));
        if (masked == 0) throw new InvalidInputException("validation split has no masked positions to evaluate");
        var sums = new Sums();
        var words = new MaskedWordAccuracy(tokenizer);
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var (inputs, mlmLabels, pairLabels) = ToTensors(batch);
            var (mlmLogits, chosenLabels, pairLogits) = model.ForwardMasked(inputs, mlmLabels);
            sums.Add(mlmLogits, pairLogits, chosenLabels, pairLabels, masked, pairs);
            AddWords(words, batch, mlmLogits);
        }
        var metrics = new Dictionary<string, double>(sums.Metrics())
        {
            ["loss"] = sums.MlmLoss + sums.PairLoss,
            ["word_acc"] = words.WordAccuracy,
            ["content_acc"] = words.ContentAccuracy,
        };
        return metrics;
    }

    /// <summary>Adds one batch's masked words to <paramref name="words"/>; <paramref name="chosenLogits"/> (N, V) are
    /// the MLM logits at the batch's masked positions in row-major order, as <see cref="BertForPreTraining.ForwardMasked"/> gives them.</summary>
    internal static void AddWords(MaskedWordAccuracy words, BertBatch batch, Tensor chosenLogits)
    {
        var top = chosenLogits.argmax(-1).data<long>().ToArray();
        int T = batch.SeqLen, n = batch.BatchSize * T, k = 0;
        var original = new long[n];
        var masked = new bool[n];
        var predicted = new long[n];
        for (int i = 0; i < n; i++)
        {
            masked[i] = batch.MlmLabels[i] != Ignore;
            original[i] = masked[i] ? batch.MlmLabels[i] : batch.InputIds[i];
            if (masked[i]) predicted[i] = top[k++];
        }
        if (k != top.Length) throw new InvalidOperationException($"{top.Length} MLM predictions for {k} masked positions");
        for (int r = 0; r < batch.BatchSize; r++)
            words.Add(original.AsSpan(r * T, T), masked.AsSpan(r * T, T), predicted.AsSpan(r * T, T));
    }

    /// <inheritdoc />
    public void SaveModel(string directory) => ModelFolder.SaveModel(directory, model, tokenizer);

    internal static (BertInputs Inputs, Tensor MlmLabels, Tensor PairLabels) ToTensors(BertBatch b)
    {
        long B = b.BatchSize, T = b.SeqLen;
        var inputs = new BertInputs(tensor(b.InputIds, B, T), tensor(b.TokenTypeIds, B, T), tensor(b.AttentionMask, B, T));
        return (inputs, tensor(b.MlmLabels, B, T), tensor(b.NspLabels));
    }

    /// <summary>Accumulates the two losses (already divided by the step's counts) and accuracies.</summary>
    sealed class Sums
    {
        public double MlmLoss, PairLoss;
        long mlmCorrect, mlmCount, pairCorrect, pairCount;

        public Tensor Add(Tensor mlmLogits, Tensor pairLogits, Tensor mlmLabels, Tensor pairLabels, long maskedTotal, long pairTotal)
        {
            var flatLabels = mlmLabels.view(-1);
            var mlm = nn.functional.cross_entropy(mlmLogits.view(-1, mlmLogits.shape[^1]), flatLabels, ignore_index: Ignore, reduction: nn.Reduction.Sum) / Math.Max(1, maskedTotal);
            var chosen = flatLabels.ne(Ignore);
            mlmCorrect += mlmLogits.view(-1, mlmLogits.shape[^1]).argmax(-1).eq(flatLabels).logical_and(chosen).sum().item<long>();
            mlmCount += chosen.sum().item<long>();
            MlmLoss += mlm.item<float>();
            var total = mlm;
            var labelled = pairLabels.ne(Ignore);
            long n = labelled.sum().item<long>();
            if (n > 0)
            {
                var pair = nn.functional.cross_entropy(pairLogits, pairLabels, ignore_index: Ignore, reduction: nn.Reduction.Sum) / Math.Max(1, pairTotal);
                pairCorrect += pairLogits.argmax(-1).eq(pairLabels).logical_and(labelled).sum().item<long>();
                pairCount += n;
                PairLoss += pair.item<float>();
                total = total + pair;
            }
            return total;
        }

        public IReadOnlyDictionary<string, double> Metrics()
        {
            var m = new Dictionary<string, double> { ["mlm_loss"] = MlmLoss, ["mlm_acc"] = mlmCount == 0 ? double.NaN : (double)mlmCorrect / mlmCount };
            if (pairCount > 0)
            {
                m["pair_loss"] = PairLoss;
                m["pair_acc"] = (double)pairCorrect / pairCount;
            }
            return m;
        }
    }
}
