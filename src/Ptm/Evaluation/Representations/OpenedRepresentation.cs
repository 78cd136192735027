using Ptm.StaticVectors;
using Ptm.Tokenization;

namespace Ptm.Evaluation.Representations;

/// <summary>
/// A representation opened from a path, with whatever it holds (a loaded model) released in <see cref="Dispose"/>:
/// a word-vector file or a static-vector run folder (its <c>vectors.bin</c>) gives <see cref="StaticLayers"/>, a
/// GPT model or run folder <see cref="GptLayers"/>, a BERT (or ELECTRA discriminator) folder <see cref="BertLayers"/>,
/// an ELMo biLM <see cref="ElmoLayers"/>.
/// </summary>
public sealed class OpenedRepresentation : IDisposable
{
    readonly LoadedModel? model;

    OpenedRepresentation(ILayeredRepresentation representation, LoadedModel? model)
    {
        Representation = representation;
        this.model = model;
    }

    /// <summary>The representation (borrowed: valid until this object is disposed).</summary>
    public ILayeredRepresentation Representation { get; }

    /// <summary>
    /// Opens <paramref name="path"/>; <paramref name="name"/> names it in tables (default: the file or folder name).
    /// A fine-tuned model is refused: the study reads what pre-training alone learned.
    /// </summary>
    /// <exception cref="InvalidInputException">The path holds neither word vectors nor a GPT/BERT/ELMo model, or a
    /// fine-tuned one, or a GPT whose tokenizer is not byte-level BPE.</exception>
    public static OpenedRepresentation Open(string path, string? name = null)
    {
        name ??= Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(path)));
        string vectorsFile = Path.Combine(path, "vectors.bin");
        if (File.Exists(path)) return new(new StaticLayers(WordVectors.Load(path), name), null);
        if (Directory.Exists(path) && File.Exists(vectorsFile)) return new(new StaticLayers(WordVectors.Load(vectorsFile), name), null);
        var loaded = LoadedModel.Load(path);
        try
        {
            ILayeredRepresentation representation = loaded switch
            {
                { FineTuned: not null } => throw new InvalidInputException($"{loaded.Directory}: a fine-tuned model ({loaded.Description}); give the pre-trained model folder"),
                { Gpt: { } gpt } => new GptLayers(gpt, loaded.Tokenizer as ByteLevelBpeTokenizer
                    ?? throw new InvalidInputException($"{loaded.Directory}: tokenizer kind \"{loaded.Tokenizer.Kind}\"; word positions need byte-level BPE"), name),
                { Bert: { } bert } => new BertLayers(bert.Bert, (WordPieceTokenizer)loaded.Tokenizer, name),
                { Elmo: { } elmo } => new ElmoLayers(elmo, name),
                _ => throw new InvalidInputException($"{loaded.Directory}: {loaded.Description} has no per-layer word vectors"),
            };
            return new(representation, loaded);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    /// <summary>Frees the loaded model, if any.</summary>
    public void Dispose() => model?.Dispose();
}
