using Ptm.Embeddings;
using Ptm.FineTuning;
using Ptm.Generation;
using Ptm.HuggingFace;
using Ptm.Training;

namespace Ptm.Cli.Commands;

/// <summary>
/// Turns the library's user-facing failures into one line on stderr and exit code 1. The library names options by
/// type and property (<c>GenerationOptions.TopP</c>); <see cref="Flags"/> says which flag sets each, so the line the
/// user reads names the flag they typed.
/// </summary>
static class CommandErrors
{
    /// <summary>Options property (Type.Property) → the flag that sets it. One table for every command.</summary>
    public static readonly IReadOnlyDictionary<string, string> Flags = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [$"{nameof(GenerationOptions)}.{nameof(GenerationOptions.MaxNewTokens)}"] = "--max-new-tokens",
        [$"{nameof(GenerationOptions)}.{nameof(GenerationOptions.Temperature)}"] = "--temperature",
        [$"{nameof(GenerationOptions)}.{nameof(GenerationOptions.TopK)}"] = "--top-k",
        [$"{nameof(GenerationOptions)}.{nameof(GenerationOptions.TopP)}"] = "--top-p",
        [$"{nameof(GenerationOptions)}.{nameof(GenerationOptions.RepetitionPenalty)}"] = "--repetition-penalty",
        [$"{nameof(GenerationOptions)}.{nameof(GenerationOptions.Stop)}"] = "--stop",
        [$"{nameof(GenerationOptions)}.{nameof(GenerationOptions.Seed)}"] = "--seed",
        [$"{nameof(BeamSearchOptions)}.{nameof(BeamSearchOptions.NumBeams)}"] = "--num-beams",
        [$"{nameof(BeamSearchOptions)}.{nameof(BeamSearchOptions.LengthPenalty)}"] = "--length-penalty",
        [$"{nameof(BeamSearchOptions)}.{nameof(BeamSearchOptions.NoRepeatNgramSize)}"] = "--no-repeat-ngram-size",
        [$"{nameof(BeamSearchOptions)}.{nameof(BeamSearchOptions.NumReturnSequences)}"] = "--num-return-sequences",
        [$"{nameof(BeamSearchOptions)}.{nameof(BeamSearchOptions.MaxNewTokens)}"] = "--max-new-tokens",
        [$"{nameof(FillMaskOptions)}.{nameof(FillMaskOptions.TopK)}"] = "--top-k",
        [$"{nameof(EmbeddingOptions)}.{nameof(EmbeddingOptions.Layers)}"] = "--layers",
        [$"{nameof(EmbeddingOptions)}.{nameof(EmbeddingOptions.Pooling)}"] = "--pooling",
        [$"{nameof(EmbeddingOptions)}.{nameof(EmbeddingOptions.ConcatLayers)}"] = "--mean-layers",
        [$"{nameof(HfLoadOptions)}.{nameof(HfLoadOptions.AllowMissing)}"] = "--allow-missing",
        [$"{nameof(HfLoadOptions)}.{nameof(HfLoadOptions.AllowUnexpected)}"] = "--allow-unexpected",
        [$"{nameof(HfLoadOptions)}.{nameof(HfLoadOptions.DType)}"] = "--dtype",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.Epochs)}"] = "--epochs",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.BatchSize)}"] = "--batch-size",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.LearningRate)}"] = "--learning-rate",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.LearningRates)}"] = "--lr-sweep",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.WarmupRatio)}"] = "--warmup-ratio",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.WeightDecay)}"] = "--weight-decay",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.LmCoef)}"] = "--lm-coef",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.Patience)}"] = "--patience",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.ValidationSplit)}"] = "--validation-split",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.MaxLength)}"] = "--max-length",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.DocStride)}"] = "--doc-stride",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.MaxAnswerLength)}"] = "--max-answer-length",
        [$"{nameof(FineTuningOptions)}.{nameof(FineTuningOptions.NBest)}"] = "--n-best",
        [$"{nameof(Ptm.Prompting.PromptOptions)}.{nameof(Ptm.Prompting.PromptOptions.Shots)}"] = "--shots",
        [$"{nameof(Ptm.Prompting.PromptOptions)}.{nameof(Ptm.Prompting.PromptOptions.MaxNewTokens)}"] = "--max-new-tokens",
        [$"{nameof(ResumeOptions)}.{nameof(ResumeOptions.UseNewestIntact)}"] = "--use-intact",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.Epochs)}"] = "--epochs",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.BatchSize)}"] = "--batch-size",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.LearningRate)}"] = "--learning-rate",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.WeightDecay)}"] = "--weight-decay",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.LabelSmoothing)}"] = "--label-smoothing",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.MaxSourceLength)}"] = "--max-source-length",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.MaxTargetLength)}"] = "--max-target-length",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.WarmupRatio)}"] = "--warmup-ratio",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.Dropout)}"] = "--dropout",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.BestModelMetric)}"] = "--metric-for-best-model",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.AverageLastEpochs)}"] = "--average-last-epochs",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.SourceTokenDropout)}"] = "--source-token-dropout",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.BpeDropout)}"] = "--bpe-dropout",
        [$"{nameof(Seq2SeqTrainingOptions)}.{nameof(Seq2SeqTrainingOptions.TargetTokenDropout)}"] = "--target-token-dropout",
        [$"{nameof(Seq2SeqDecodingOptions)}.{nameof(Seq2SeqDecodingOptions.MaxNewTokens)}"] = "--max-new-tokens",
        [$"{nameof(Seq2SeqDecodingOptions)}.{nameof(Seq2SeqDecodingOptions.MaxSourceLength)}"] = "--max-source-length",
        [$"{nameof(Seq2SeqDecodingOptions)}.{nameof(Seq2SeqDecodingOptions.BatchSize)}"] = "--batch-size",
    };

    /// <summary>Runs a command's action; an <see cref="InvalidInputException"/>, a diverged loss, a failed write to disk or
    /// a failed MPI collective becomes "error: ..." and exit 1.</summary>
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is InvalidInputException or NonFiniteLossException or Ptm.IO.StorageException or Ptm.Distributed.DistributedException)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"error: {Message(e)}");
            return 1;
        }
    }

    /// <summary>The exception's message in the command line's terms: an option property becomes its flag.</summary>
    public static string Message(Exception e)
    {
        if (e is InvalidOptionException o && Flags.TryGetValue($"{o.OptionType}.{o.Property}", out string? flag))
            return o.MessageFor(flag);
        // Other messages may point at a setting ("HfLoadOptions.AllowMissing initialises them fresh").
        string message = e.Message;
        foreach (var (property, name) in Flags)
            if (message.Contains(property, StringComparison.Ordinal)) message = message.Replace(property, name, StringComparison.Ordinal);
        return message;
    }
}
