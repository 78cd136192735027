using Ptm.Modeling;

namespace Ptm.Training;

/// <summary>What a run folder given to <see cref="Pretraining"/> is for.</summary>
public enum RunFolderMode
{
    /// <summary>Start a new run; the folder must not exist or be empty.</summary>
    New,
    /// <summary>Start a new run, replacing a run folder (one with run.json) that is there; any other non-empty folder is refused.</summary>
    Replace,
}

/// <summary>
/// A pre-training run's folder: run.json (the resolved config and where its prepared data is), data/ (when the
/// recipe prepared raw text), metrics.jsonl and checkpoints/. Continue one with <see cref="Pretraining.ResumeGpt"/>
/// or <see cref="Pretraining.ResumeBert"/>.
/// </summary>
/// <param name="Path">The folder.</param>
/// <param name="Mode">Whether an existing run there may be replaced.</param>
public sealed record RunFolder(string Path, RunFolderMode Mode = RunFolderMode.New)
{
    /// <summary>The run's config file in the folder.</summary>
    public const string RunFile = "run.json";

    /// <summary>run.json's field naming the prepared data folder (relative to the run folder, or absolute).</summary>
    public const string DataDirField = "data_dir";

    /// <summary>The prepared data's folder inside a run folder, when the recipe prepared raw text.</summary>
    public const string DataFolder = "data";
}

/// <summary>
/// Everything a GPT pre-training recipe (<see cref="Pretraining.Gpt"/>) can set. The defaults are those of
/// configs/gpt-kjv.json's types: a byte-level BPE of 2048 tokens and <see cref="TrainingConfig"/>'s defaults; set
/// <see cref="Model"/> for anything but GPT-2 small.
/// </summary>
public sealed record GptPretrainingOptions
{
    /// <summary>The model's config.json fields. Default: GPT-2 small (GptConfig's defaults).</summary>
    public GptConfig Model { get; init; } = new();

    /// <summary>How the tokenizer is trained on the corpus ("bpe" or "char"); ignored for a prepared folder.</summary>
    public TokenizerSpec Tokenizer { get; init; } = new();

    /// <summary>Optimisation settings, checked by <see cref="Trainer"/>.</summary>
    public TrainingConfig Training { get; init; } = new();

    /// <summary>When true (default), <c>Model.VocabSize</c> becomes the trained tokenizer's size, which is only known
    /// after training it; when false it is kept and must be at least the tokenizer's.</summary>
    public bool VocabSizeFromTokenizer { get; init; } = true;

    /// <summary>The options as a run config (a run.json's sections).</summary>
    public GptRunConfig ToRunConfig() => new(Model, Tokenizer, Training);

    /// <summary>Checks the options before any slow work (the tokenizer's size is not known yet).</summary>
    /// <exception cref="InvalidInputException">a field is out of range; the message names it</exception>
    public void Validate()
    {
        const string Type = nameof(GptPretrainingOptions);
        if (Tokenizer.Kind is not ("bpe" or "char"))
            throw new InvalidOptionException(Type, "Tokenizer.Kind", "must be \"bpe\" or \"char\"", $"\"{Tokenizer.Kind}\"");
        if (Tokenizer.Kind == "bpe" && Tokenizer.VocabSize <= 257)
            throw new InvalidOptionException(Type, "Tokenizer.VocabSize", "must be above 257 for byte-level BPE", Tokenizer.VocabSize);
        Model.Validate($"{Type}.Model");
        Training.Validate();
        if (Training.BlockSize > Model.NPositions)
            throw new InvalidOptionException(Type, "Training.BlockSize", $"must be at most Model.NPositions ({Model.NPositions})", Training.BlockSize);
    }

    /// <summary>The model config for a tokenizer of <paramref name="tokenizerVocabSize"/> tokens.</summary>
    internal GptConfig ModelFor(int tokenizerVocabSize)
    {
        if (VocabSizeFromTokenizer) return Model with { VocabSize = tokenizerVocabSize };
        if (Model.VocabSize < tokenizerVocabSize)
            throw new InvalidOptionException(nameof(GptPretrainingOptions), "Model.VocabSize", $"must be at least the tokenizer's vocabulary ({tokenizerVocabSize})", Model.VocabSize);
        return Model;
    }

    /// <summary>Options from a run config, e.g. a run.json read with <see cref="GptRunConfig.FromNode"/>.</summary>
    public static GptPretrainingOptions From(GptRunConfig run, bool vocabSizeFromTokenizer) => new()
    {
        Model = run.Model, Tokenizer = run.Tokenizer, Training = run.Training, VocabSizeFromTokenizer = vocabSizeFromTokenizer,
    };
}

/// <summary>
/// Everything a BERT pre-training recipe (<see cref="Pretraining.Bert"/>) can set: the model, a WordPiece vocabulary
/// trained on the corpus, Google's create_pretraining_data settings (<see cref="Data"/>) and the training settings.
/// </summary>
public sealed record BertPretrainingOptions
{
    /// <summary>The model's config.json fields. Default: BERT-base (BertConfig's defaults).</summary>
    public BertConfig Model { get; init; } = new();

    /// <summary>The WordPiece vocabulary's size and casing (Kind must be "wordpiece"); ignored for a prepared folder.</summary>
    public TokenizerSpec Tokenizer { get; init; } = new() { Kind = "wordpiece" };

    /// <summary>How instances are made: sequence length, pair task (NSP, SOP or none), masking.</summary>
    public BertDataSpec Data { get; init; } = new();

    /// <summary>Optimisation settings, checked by <see cref="Trainer"/>.</summary>
    public TrainingConfig Training { get; init; } = new();

    /// <summary>When true (default), <c>Model.VocabSize</c> becomes the trained vocabulary's size; when false it is
    /// kept and must be at least the vocabulary's.</summary>
    public bool VocabSizeFromTokenizer { get; init; } = true;

    /// <summary>The options as a run config (a run.json's sections).</summary>
    public BertRunConfig ToRunConfig() => new(Model, Tokenizer, Data, Training);

    /// <summary>Checks the options before any slow work.</summary>
    /// <exception cref="InvalidInputException">a field is out of range; the message names it</exception>
    public void Validate()
    {
        const string Type = nameof(BertPretrainingOptions);
        if (Tokenizer.Kind != "wordpiece")
            throw new InvalidOptionException(Type, "Tokenizer.Kind", "must be \"wordpiece\" for BERT", $"\"{Tokenizer.Kind}\"");
        Model.Validate($"{Type}.Model");
        Data.ToOptions($"{Type}");
        if (Data.MaxSeqLength > Model.MaxPositionEmbeddings)
            throw new InvalidOptionException(Type, "Data.MaxSeqLength", $"must be at most Model.MaxPositionEmbeddings ({Model.MaxPositionEmbeddings})", Data.MaxSeqLength);
        Training.Validate();
    }

    internal BertConfig ModelFor(int tokenizerVocabSize)
    {
        if (VocabSizeFromTokenizer) return Model with { VocabSize = tokenizerVocabSize };
        if (Model.VocabSize < tokenizerVocabSize)
            throw new InvalidOptionException(nameof(BertPretrainingOptions), "Model.VocabSize", $"must be at least the tokenizer's vocabulary ({tokenizerVocabSize})", Model.VocabSize);
        return Model;
    }

    /// <summary>Options from a run config, e.g. a run.json read with <see cref="BertRunConfig.FromNode"/>.</summary>
    public static BertPretrainingOptions From(BertRunConfig run, bool vocabSizeFromTokenizer) => new()
    {
        Model = run.Model, Tokenizer = run.Tokenizer, Data = run.Data, Training = run.Training, VocabSizeFromTokenizer = vocabSizeFromTokenizer,
    };
}
