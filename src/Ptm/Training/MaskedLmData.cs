using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Training;

/// <summary>
/// The prepared data of a masked-LM run (BERT, ELECTRA): both splits and their batchers. Dynamic (RoBERTa) masking is
/// drawn per batch where the data carries no static masks, with the masking units the data was prepared with.
/// Disposing closes the splits.
/// </summary>
internal sealed class MaskedLmData : IDisposable
{
    MaskedLmData(BertPretrainingDataset train, BertPretrainingDataset validation, BertBatcher trainBatches, BertBatcher validationBatches)
    {
        Train = train;
        Validation = validation;
        TrainBatches = trainBatches;
        ValidationBatches = validationBatches;
    }

    public BertPretrainingDataset Train { get; }
    public BertPretrainingDataset Validation { get; }
    public BertBatcher TrainBatches { get; }
    public BertBatcher ValidationBatches { get; }

    /// <summary>The WordPiece vocabulary of <paramref name="dataDir"/>; <paramref name="family"/> names the model in the error.</summary>
    public static WordPieceTokenizer LoadVocabulary(string dataDir, string family) =>
        TokenizerFiles.Load(dataDir) as WordPieceTokenizer
            ?? throw new InvalidInputException($"{dataDir}: {family} data needs a WordPiece vocabulary (vocab.txt or tokenizer.json)");

    /// <summary>Opens both splits of <paramref name="dataDir"/> for a model of <paramref name="maxPositions"/> positions.</summary>
    /// <exception cref="InvalidInputException">a split is missing or malformed, or its sequences exceed the model's positions</exception>
    public static MaskedLmData Open(string dataDir, WordPieceTokenizer tokenizer, int maxPositions, TrainingConfig training)
    {
        var train = BertPretrainingDataset.Open(dataDir, Preparer.TrainSplit);
        BertPretrainingDataset? validation = null;
        try
        {
            validation = BertPretrainingDataset.Open(dataDir, Preparer.ValidationSplit);
            if (train.MaxSeqLength > maxPositions)
                throw new InvalidInputException($"{dataDir}: sequences of {train.MaxSeqLength} tokens exceed model.max_position_embeddings ({maxPositions})");
            IMlmMasker? Masker(BertPretrainingDataset d) =>
                d.HasStaticMasks ? null : KnowledgeMasker.ForData(MaskingVocabulary.FromWordPiece(tokenizer), d.Manifest.Options.Mlm, dataDir);
            return new MaskedLmData(train, validation,
                new BertBatcher(train, training.BatchSize, (ulong)training.Seed, Masker(train)),
                new BertBatcher(validation, training.BatchSize, (ulong)training.Seed + 1, Masker(validation)));
        }
        catch
        {
            train.Dispose();
            validation?.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Train.Dispose();
        Validation.Dispose();
    }
}
