using Ptm.Data;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>
/// ELECTRA pre-training (Clark et al. 2020): the generator's masked-LM loss plus <c>rtdWeight</c> (λ, 50 in the paper)
/// times the discriminator's replaced-token-detection loss over every non-padding position. The MLM term is a mean over
/// the step's masked positions and the RTD term over its real tokens, so gradient accumulation equals one larger batch.
/// Pair labels (NSP/SOP) in the data are ignored.
/// </summary>
public sealed class ElectraObjective(ElectraForPreTraining model, WordPieceTokenizer tokenizer, BertBatcher train, BertBatcher validation, double rtdWeight = 50)
    : IDataParallelObjective
{
    /// <summary>The file next to a saved model folder's BERT weights holding the whole ELECTRA model (generator included).</summary>
    public const string ElectraWeightsFile = "electra.safetensors";

    /// <summary>The path of <see cref="ElectraWeightsFile"/> in saved model folder <paramref name="modelDir"/>.</summary>
    /// <exception cref="InvalidInputException">The folder has no such file: it is not an ELECTRA checkpoint.</exception>
    internal static string RequireWeightsFile(string modelDir)
    {
        string weights = Path.Combine(modelDir, ElectraWeightsFile);
        if (!File.Exists(weights)) throw new InvalidInputException($"{modelDir}: no {ElectraWeightsFile}; not an ELECTRA checkpoint");
        return weights;
    }

    const int Ignore = MlmMasker.IgnoreLabel;

    /// <summary>Seed of the sampler used by <see cref="Evaluate"/>, so every evaluation sees the same replacements.</summary>
    const long EvaluationSamplerSeed = 20200323;

    /// <inheritdoc />
    public nn.Module Model => model;

    /// <summary><see cref="ElectraWeightsFile"/>: model.safetensors holds the discriminator alone.</summary>
    public string ResumeWeightsFile => ElectraWeightsFile;

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count) => ForwardBackward(firstIndex, count, _ => { });

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count, Action<long[]> sumCounts)
    {
        var batches = Enumerable.Range(0, count).Select(m => train.GetBatch(firstIndex + m)).ToList();
        long tokens = batches.Sum(b => b.AttentionMask.LongCount(m => m != 0));
        long[] totals = [batches.Sum(b => b.MlmLabels.LongCount(l => l != Ignore)), tokens];
        sumCounts(totals); // masked positions and real tokens of the whole step, over every rank
        var sums = new Sums();
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var (inputs, mlmLabels, _) = MaskedLmObjective.ToTensors(batch);
            var output = model.Forward(inputs, mlmLabels);
            sums.Add(output, inputs.AttentionMask, rtdWeight, totals[0], totals[1]).backward();
        }
        return new StepOutcome(sums.MlmLoss + rtdWeight * sums.RtdLoss, tokens, sums.Metrics());
    }

    /// <summary>Over the first <paramref name="maxBatches"/> validation batches, with a fixed sampler: "loss"
    /// (MLM + λ·RTD), the generator's "mlm_loss" and "mlm_acc", the discriminator's "rtd_loss" and "rtd_acc" (over
    /// every real token), "replaced" (the fraction of real tokens the generator changed), and the generator's
    /// "word_acc" and "content_acc" (<see cref="MaskedWordAccuracy"/>; the discriminator has no trained MLM head).</summary>
    /// <exception cref="InvalidInputException">the validation batches have no masked position</exception>
    public IReadOnlyDictionary<string, double> Evaluate(int maxBatches)
    {
        var batches = validation.Sequential((long)maxBatches * validation.BatchSize).ToList();
        long masked = batches.Sum(b => b.MlmLabels.LongCount(l => l != Ignore));
        long tokens = batches.Sum(b => b.AttentionMask.LongCount(m => m != 0));
        if (masked == 0) throw new InvalidInputException("validation split has no masked positions to evaluate");
        var sums = new Sums();
        var words = new MaskedWordAccuracy(tokenizer);
        using var sampler = new Generator((ulong)EvaluationSamplerSeed);
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var (inputs, mlmLabels, _) = MaskedLmObjective.ToTensors(batch);
            var output = model.Forward(inputs, mlmLabels, sampler);
            sums.Add(output, inputs.AttentionMask, rtdWeight, masked, tokens);
            MaskedLmObjective.AddWords(words, batch, output.GeneratorLogits);
        }
        return new Dictionary<string, double>(sums.Metrics())
        {
            ["loss"] = sums.MlmLoss + rtdWeight * sums.RtdLoss,
            ["word_acc"] = words.WordAccuracy,
            ["content_acc"] = words.ContentAccuracy,
        };
    }

    /// <summary>The subfolder of a saved ELECTRA model folder holding the generator as a masked-LM BERT model folder.</summary>
    public const string GeneratorFolder = "generator";

    /// <summary><see cref="ElectraWeightsFile"/>'s metadata key for the generator size (<see cref="ElectraSpec.GeneratorSize"/>),
    /// which the tensor shapes alone do not fix (the generator's head count).</summary>
    public const string GeneratorSizeMetadata = "generator_size";

    /// <summary>Writes the discriminator as a BERT model folder (config.json, model.safetensors, tokenizer files), which
    /// loads with <see cref="ModelFolder.LoadBert"/> and <see cref="LoadedModel"/> for fine-tuning and embedding; the
    /// whole ELECTRA model (generator and discriminator head included) to <see cref="ElectraWeightsFile"/>; and the
    /// generator as a masked-LM BERT model folder in <see cref="GeneratorFolder"/> (<see cref="ElectraGeneratorBert"/>),
    /// which fills masks and scores masked words as a BERT does.</summary>
    public void SaveModel(string directory)
    {
        ModelFolder.SaveModel(directory, model.Discriminator, tokenizer);
        SafeTensorsWriter.Write(Path.Combine(directory, ElectraWeightsFile), model.state_dict(),
            new Dictionary<string, string>
            {
                ["format"] = "pt", ["producer"] = "ptm", ["architecture"] = "ElectraForPreTraining",
                [GeneratorSizeMetadata] = model.GeneratorSize.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            });
        using var generator = ElectraGeneratorBert.From(model);
        ModelFolder.SaveModel(Path.Combine(directory, GeneratorFolder), generator, tokenizer);
    }

    /// <summary>Accumulates both losses (already divided by the step's counts) and the accuracies.</summary>
    sealed class Sums
    {
        public double MlmLoss, RtdLoss;
        long mlmCorrect, mlmCount, rtdCorrect, rtdCount, replaced;

        public Tensor Add(ElectraOutput output, Tensor attentionMask, double rtdWeight, long maskedTotal, long tokenTotal)
        {
            var (total, mlm, rtd) = ElectraForPreTraining.Loss(output, attentionMask, rtdWeight, maskedTotal, tokenTotal);
            MlmLoss += mlm.item<float>();
            RtdLoss += rtd.item<float>();
            using (no_grad())
            {
                var real = attentionMask.ne(0);
                mlmCorrect += output.GeneratorLogits.argmax(-1).eq(output.MlmLabels).sum().item<long>();
                mlmCount += output.MlmLabels.shape[0];
                rtdCorrect += output.RtdLogits.gt(0).eq(output.RtdLabels.gt(0.5)).logical_and(real).sum().item<long>();
                rtdCount += real.sum().item<long>();
                replaced += output.RtdLabels.gt(0.5).logical_and(real).sum().item<long>();
            }
            return total;
        }

        public IReadOnlyDictionary<string, double> Metrics() => new Dictionary<string, double>
        {
            ["mlm_loss"] = MlmLoss,
            ["mlm_acc"] = mlmCount == 0 ? double.NaN : (double)mlmCorrect / mlmCount,
            ["rtd_loss"] = RtdLoss,
            ["rtd_acc"] = rtdCount == 0 ? double.NaN : (double)rtdCorrect / rtdCount,
            ["replaced"] = rtdCount == 0 ? double.NaN : (double)replaced / rtdCount,
        };
    }
}
