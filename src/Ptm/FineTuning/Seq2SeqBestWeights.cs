using Ptm.Modeling;

namespace Ptm.FineTuning;

/// <summary>What picks the epoch a sequence-to-sequence run keeps (Hugging Face's <c>metric_for_best_model</c>).</summary>
public enum Seq2SeqBestModelMetric
{
    /// <summary>The lowest teacher-forced validation loss (per-token cross-entropy, no smoothing).</summary>
    Loss,
    /// <summary>The highest corpus BLEU of greedy translations of the validation sources.</summary>
    Bleu,
}

/// <summary>
/// A copy of the weights of the best epoch so far under one <see cref="Seq2SeqBestModelMetric"/>; the earlier epoch
/// wins a tie. Epoch 0 means none offered yet (or no validation set, so nothing to compare).
/// </summary>
sealed class Seq2SeqBestWeights(Seq2SeqBestModelMetric metric) : IDisposable
{
    double bestLoss = double.PositiveInfinity;
    double bestBleu = double.NegativeInfinity;

    /// <summary>The 1-based epoch held, 0 before the first one with a validation score.</summary>
    public int Epoch { get; private set; }
    /// <summary>That epoch's weights; null while <see cref="Epoch"/> is 0.</summary>
    public WeightSnapshot? Weights { get; private set; }

    /// <summary>Copies the model's weights when this epoch's score beats the one held.</summary>
    public void Offer(BartForConditionalGeneration model, int epoch, double? loss, double? bleu)
    {
        if (loss is null || Epoch > 0 && !Beats(loss, bleu)) return;
        Dispose();
        (bestLoss, bestBleu, Epoch) = (loss.Value, bleu ?? double.NegativeInfinity, epoch);
        Weights = WeightSnapshot.Of(model);
    }

    /// <summary>Whether a candidate with these scores is at least as good as the epoch held.</summary>
    public bool IsAtLeastAsGoodAs(double? loss, double? bleu) => Epoch == 0 || !BeatenBy(loss, bleu);

    bool Beats(double? loss, double? bleu) => metric == Seq2SeqBestModelMetric.Bleu ? bleu > bestBleu : loss < bestLoss;

    bool BeatenBy(double? loss, double? bleu) => metric == Seq2SeqBestModelMetric.Bleu ? bleu < bestBleu : loss > bestLoss;

    /// <summary>Frees the held copy.</summary>
    public void Dispose()
    {
        Weights?.Dispose();
        Weights = null;
    }
}
