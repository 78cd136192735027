using System.Text.Json.Serialization;

namespace Ptm.Data;

/// <summary>The sentence-pair task trained alongside masked language modelling.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PairTask>))]
public enum PairTask
{
    /// <summary>BERT next-sentence prediction: B follows A (label 0) or comes from another document (label 1).</summary>
    Nsp,
    /// <summary>ALBERT sentence-order prediction: B follows A (label 0) or A and B are swapped (label 1).</summary>
    Sop,
    /// <summary>RoBERTa FULL-SENTENCES (<c>nsp: false</c>): sentences packed up to the maximum length across documents, no pair label.</summary>
    None,
}

/// <summary>When the masked-LM positions are drawn.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MaskingMode>))]
public enum MaskingMode
{
    /// <summary>BERT: masks drawn once at preparation time and stored; each of the dupe-factor copies gets its own.</summary>
    Static,
    /// <summary>RoBERTa: masks drawn by the batcher for every batch, a pure function of (seed, step, row).</summary>
    Dynamic,
}

/// <summary>How a document's text is cut into the sentences that segments are built from.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SentenceSplitting>))]
public enum SentenceSplitting
{
    /// <summary>Each non-empty line is one sentence (data/kjv: one verse per line).</summary>
    Lines,
    /// <summary>Lines, further split at '.', '!' or '?' followed by whitespace and an upper-case letter.</summary>
    Punctuation,
}

/// <summary>Masked-LM choices, as in Google's create_pretraining_data.py flags of the same names.</summary>
/// <param name="MaskedLmProb">Share of the non-special tokens of a sequence chosen for prediction.</param>
/// <param name="MaxPredictionsPerSeq">Cap on chosen positions per sequence (at least one is always chosen).</param>
/// <param name="WholeWordMasking">Choose whole words: a token and its following "##" continuations together.</param>
public sealed record MlmOptions(double MaskedLmProb = 0.15, int MaxPredictionsPerSeq = 20, bool WholeWordMasking = false)
{
    /// <summary>ERNIE-style units masked whole: <see cref="MaskingUnit.Phrase"/> or <see cref="MaskingUnit.Entity"/> use
    /// <see cref="KnowledgeMasker"/> with units learned from the training text; Token (the default) leaves the choice to
    /// <see cref="WholeWordMasking"/>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] // manifests of token or whole-word data stay as they were
    public MaskingUnit Unit { get; init; } = MaskingUnit.Token;

    /// <summary>Checks the ranges: <see cref="MaskedLmProb"/> in (0, 1), <see cref="MaxPredictionsPerSeq"/> in [1, 255].</summary>
    /// <exception cref="InvalidInputException">A value is out of range.</exception>
    public void Validate()
    {
        if (!(MaskedLmProb > 0 && MaskedLmProb < 1)) throw new InvalidInputException($"masked LM probability must be between 0 and 1 exclusive (got {MaskedLmProb})");
        if (MaxPredictionsPerSeq is < 1 or > 255) throw new InvalidInputException($"max predictions per sequence must be in [1, 255] (got {MaxPredictionsPerSeq})");
    }
}

/// <summary>How BERT pre-training instances are built; defaults follow Google's create_pretraining_data.py except
/// <see cref="DupeFactor"/> (Google: 10), which costs disk for little gain on a small corpus.</summary>
/// <param name="MaxSeqLength">Tokens per instance including [CLS] and [SEP]s; shorter instances are padded.</param>
/// <param name="ShortSeqProb">Chance that a document pass targets a random length in [2, MaxSeqLength - 3] instead of the maximum.</param>
/// <param name="Task">The sentence-pair task, or packed sentences without one.</param>
/// <param name="Masking">Masks drawn once and stored, or by the batcher for every batch.</param>
/// <param name="Sentences">How documents are cut into sentences.</param>
/// <param name="DupeFactor">Passes over the corpus, each with different segmentation, pairing and (static) masks.</param>
/// <param name="Seed">Fixes every random choice; the same seed writes identical files.</param>
public sealed record BertDataOptions(
    int MaxSeqLength = 128,
    double ShortSeqProb = 0.1,
    int DupeFactor = 5,
    PairTask Task = PairTask.Nsp,
    MaskingMode Masking = MaskingMode.Static,
    SentenceSplitting Sentences = SentenceSplitting.Punctuation,
    ulong Seed = 12345)
{
    /// <summary>Masked-LM choices: probability, per-sequence cap, whole-word masking.</summary>
    public MlmOptions Mlm { get; init; } = new();

    /// <summary>Content tokens of a pair: MaxSeqLength less [CLS], [SEP], [SEP].</summary>
    [JsonIgnore]
    public int MaxNumTokens => MaxSeqLength - 3;

    /// <summary>Checks every option and <see cref="Mlm"/>: MaxSeqLength in [5, 65535], ShortSeqProb in [0, 1], DupeFactor at least 1, known enum values.</summary>
    /// <exception cref="InvalidInputException">A value is out of range.</exception>
    public void Validate()
    {
        // 5 = [CLS] a [SEP] b [SEP]: the smallest pair; the record stores lengths as uint16.
        if (MaxSeqLength is < 5 or > 65535) throw new InvalidInputException($"max sequence length must be in [5, 65535] (got {MaxSeqLength})");
        if (!(ShortSeqProb >= 0 && ShortSeqProb <= 1)) throw new InvalidInputException($"short sequence probability must be in [0, 1] (got {ShortSeqProb})");
        if (DupeFactor < 1) throw new InvalidInputException($"dupe factor must be at least 1 (got {DupeFactor})");
        if (!Enum.IsDefined(Task)) throw new InvalidInputException($"unknown pair task {Task}");
        if (!Enum.IsDefined(Masking)) throw new InvalidInputException($"unknown masking mode {Masking}");
        Mlm.Validate(); // a cap above the sequence length is allowed: it simply never binds
    }
}
