using Ptm.Embeddings;
using Ptm.FineTuning;
using Ptm.Generation;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;

namespace Ptm;

/// <summary>How <see cref="LoadedModel.Load"/> treats a Hugging Face folder (ours load strictly and need nothing).</summary>
public sealed record LoadOptions
{
    /// <summary>Dtype and missing/unexpected-tensor policy for a Hugging Face folder; strict float32 by default.</summary>
    public HfLoadOptions HuggingFace { get; init; } = new();
}

/// <summary>A class (or choice) chosen by a fine-tuned head, with the probability of every label.</summary>
/// <param name="Label">the label's name (for multiple choice, the choice's 0-based index as text)</param>
/// <param name="Index">the label's (or choice's) index</param>
/// <param name="Probabilities">softmax over the labels (or choices), by name</param>
public sealed record LabelPrediction(string Label, int Index, IReadOnlyDictionary<string, float> Probabilities);

/// <summary>
/// Whatever a model folder holds, loaded and ready to use: a GPT language model, a BERT with its pre-training heads, or
/// either with a fine-tuned task head. <see cref="Load"/> accepts our model folders, Hugging Face folders (family from
/// config.json's <c>model_type</c>; weights mapped as <see cref="HfCheckpoint"/> does) and run folders (their best
/// model, else their latest checkpoint). An encoder–decoder (BART) folder loads as <see cref="Seq2Seq"/>. Each job is one call: <see cref="GenerateAsync"/>, <see cref="Generate(string, GenerationOptions, CancellationToken)"/>,
/// <see cref="Score"/>, <see cref="FillMask"/>, <see cref="Embed"/>, <see cref="Classify"/>, <see cref="Translate(IReadOnlyList{string}, Seq2SeqDecodingOptions?)"/>; a call the model cannot
/// do throws <see cref="InvalidInputException"/> saying what it is.
/// <para>Ownership: this object owns the model's native memory and frees it in <see cref="Dispose"/>. The
/// <see cref="Gpt"/>, <see cref="Bert"/> and <see cref="FineTuned"/> it exposes, and helpers made from them (a
/// <see cref="TextGenerator"/>, <see cref="MaskFiller"/>, <see cref="ContextualEmbedder"/>), are borrowed: do not
/// dispose them, and do not use them after this object is disposed. Calls leave the model in eval mode (its state
/// after loading); none changes it. One call at a time: the object is not thread-safe.</para>
/// </summary>
public sealed class LoadedModel : IDisposable
{
    bool disposed;

    LoadedModel(string directory, ModelFamily family, bool fromHuggingFace, ITokenizer tokenizer, Gpt? gpt, BertForPreTraining? bert, FineTuneModel? fineTuned,
        BartForConditionalGeneration? seq2Seq = null, ElmoBiLm? elmo = null)
    {
        Seq2Seq = seq2Seq;
        Elmo = elmo;
        Directory = directory;
        Family = family;
        IsHuggingFaceFolder = fromHuggingFace;
        Tokenizer = tokenizer;
        Gpt = gpt;
        Bert = bert;
        FineTuned = fineTuned;
    }

    /// <summary>The model folder that was loaded (a run folder resolves to its best model or latest checkpoint).</summary>
    public string Directory { get; }

    /// <summary>GPT or BERT, from config.json's <c>model_type</c>.</summary>
    public ModelFamily Family { get; }

    /// <summary>Whether the folder was in Hugging Face's layout (converted while loading) rather than ours.</summary>
    public bool IsHuggingFaceFolder { get; }

    /// <summary>The model's tokenizer (immutable; safe to keep after disposal).</summary>
    public ITokenizer Tokenizer { get; }

    /// <summary>The task of a fine-tuned head, or null for a language model / pre-trained BERT.</summary>
    public FineTuneTask? Task => FineTuned?.Task;

    /// <summary>The head's label names (classify, pair, tag), or null when the head has none or there is no head.</summary>
    public IReadOnlyList<string>? Labels => FineTuned?.Labels?.Labels;

    /// <summary>The GPT language model, when the folder holds one without a task head (borrowed).</summary>
    public Gpt? Gpt { get; }

    /// <summary>The BERT with its pre-training heads, when the folder holds one without a task head (borrowed).</summary>
    public BertForPreTraining? Bert { get; }

    /// <summary>The ELMo biLM, when the folder holds one without a task head (borrowed); <see cref="Tokenizer"/> is then its <see cref="ElmoVocabulary"/>.</summary>
    public ElmoBiLm? Elmo { get; }

    /// <summary>The model with its fine-tuned task head, when the folder has finetune.json (borrowed).</summary>
    public FineTuneModel? FineTuned { get; }

    /// <summary>The encoder–decoder model (BART / mBART layout: pre-trained, or fine-tuned on source/target pairs),
    /// when the folder holds one (borrowed).</summary>
    public BartForConditionalGeneration? Seq2Seq { get; }

    /// <summary>A one-line description: family, head and labels, e.g. <c>bert, classify head (neg, pos)</c>.</summary>
    public string Description => Family.ModelType + ", " + Head;

    string Head => FineTuned is { } ft
        ? $"{FineTuneTasks.Name(ft.Task)} head" + (Labels is { } l ? $" ({string.Join(", ", l)})" : "")
        : Family switch
        {
            ModelFamily.Gpt2 => "language model",
            ModelFamily.Bart => "encoder-decoder",
            ModelFamily.Elmo => "bidirectional language model",
            _ => "pre-training heads",
        };

    string Refusal(string job, string needs) =>
        $"{Directory}: model_type is \"{Family.ModelType}\" ({Head}); {job} needs {needs}";

    /// <summary>
    /// Loads a model folder, a Hugging Face folder or a run folder. Bad folders throw <see cref="InvalidInputException"/>
    /// naming the file; nothing stays allocated after a failed load. The caller owns the result and disposes it.
    /// </summary>
    /// <remarks>A run that is still training may prune the checkpoint this resolved to before it is read; the load is
    /// then retried on the run's new latest checkpoint.</remarks>
    public static LoadedModel Load(string path, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        return Checkpoints.LoadResolved(path, dir => LoadFrom(dir, options));
    }

    static LoadedModel LoadFrom(string dir, LoadOptions options)
    {
        var family = ModelFolder.Family(dir);
        if (family == ModelFamily.Bart)
        {
            // Ours and Hugging Face's BART folders share one layout (same config fields and tensor names); ours are
            // told apart by the producer Ptm writes into the weights' metadata.
            var (bart, bpe) = ModelFolder.LoadBart(dir);
            bool fromHf = true;
            string weightsPath = Path.Combine(dir, ModelFolder.WeightsFile);
            if (File.Exists(weightsPath))
            {
                using var weights = SafeTensorsFile.Open(weightsPath);
                fromHf = !(weights.Metadata.TryGetValue("producer", out var producer) && producer == "ptm");
            }
            return new LoadedModel(dir, family, fromHf, bpe, null, null, null, bart);
        }
        if (File.Exists(Path.Combine(dir, FineTuneModel.InfoFile)))
        {
            var ft = FineTuneModel.Load(dir);
            return new LoadedModel(dir, family, false, ft.Tokenizer, null, null, ft);
        }
        if (family == ModelFamily.Elmo)
        {
            var (elmo, vocabulary) = ElmoFolder.Load(dir);
            return new LoadedModel(dir, family, false, vocabulary, null, null, null, elmo: elmo);
        }
        if (ModelFolder.IsPtmFolder(dir))
        {
            if (family == ModelFamily.Gpt2)
            {
                var (gpt, tokenizer) = ModelFolder.LoadGpt(dir);
                return new LoadedModel(dir, family, false, tokenizer, gpt, null, null);
            }
            var (bert, wordPiece) = ModelFolder.LoadBert(dir);
            return new LoadedModel(dir, family, false, wordPiece, null, bert, null);
        }
        if (family == ModelFamily.Gpt2)
        {
            var (gpt, config, _) = HfCheckpoint.LoadGpt(dir, options.HuggingFace);
            try { return new LoadedModel(dir, family, true, ModelFolder.LoadTokenizer(dir, config.Gpt!.VocabSize), gpt, null, null); }
            catch { gpt.Dispose(); throw; }
        }
        var (hfBert, hfConfig, _) = HfCheckpoint.LoadBert(dir, options.HuggingFace);
        try { return new LoadedModel(dir, family, true, ModelFolder.LoadWordPiece(dir, hfConfig.Bert!.VocabSize), null, hfBert, null); }
        catch { hfBert.Dispose(); throw; }
    }

    /// <summary>A generator over this model's GPT (borrowed: valid until this object is disposed).</summary>
    public TextGenerator CreateGenerator() => new(RequireGpt("generation"), Tokenizer);

    /// <summary>Streams a continuation of <paramref name="prompt"/>; decoding runs on a worker thread (see
    /// <see cref="TextGenerator.GenerateAsync"/>). Options default to <see cref="GenerationOptions"/>'s defaults.</summary>
    public IAsyncEnumerable<string> GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        CreateGenerator().GenerateAsync(prompt, options ?? new GenerationOptions(), cancellation);

    /// <summary>The whole continuation of <paramref name="prompt"/> (blocking).</summary>
    public string Generate(string prompt, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        CreateGenerator().GenerateText(prompt, options ?? new GenerationOptions(), cancellation);

    /// <summary>Continuations of several prompts decoded together as one batch (see <see cref="TextGenerator.GenerateBatch"/>).</summary>
    public IReadOnlyList<string> Generate(IReadOnlyList<string> prompts, GenerationOptions? options = null, CancellationToken cancellation = default) =>
        CreateGenerator().GenerateBatch(prompts, options ?? new GenerationOptions(), cancellation);

    /// <summary>Loss, perplexity, bits per byte and every token's log-probability of <paramref name="text"/> under the GPT.</summary>
    /// <param name="text">the text</param>
    /// <param name="source">names the text in error messages (a file name, say)</param>
    public ScoreResult Score(string text, string source = "text") => LanguageModelScorer.Score(RequireGpt("scoring"), Tokenizer, text, source);

    /// <summary>For each [MASK] in <paramref name="text"/>, the most likely tokens (BERT with pre-training heads).</summary>
    public IReadOnlyList<IReadOnlyList<MaskCandidate>> FillMask(string text, FillMaskOptions? options = null) =>
        new MaskFiller(RequireBert("fill-mask"), (WordPieceTokenizer)Tokenizer).Fill(text, options ?? new FillMaskOptions());

    /// <summary>An embedder over the BERT encoder (borrowed: valid until this object is disposed).</summary>
    public ContextualEmbedder CreateEmbedder(EmbeddingOptions? options = null) =>
        new(RequireBert("embedding").Bert, (WordPieceTokenizer)Tokenizer, options ?? new EmbeddingOptions());

    /// <summary>An embedder over the ELMo biLM (borrowed: valid until this object is disposed); null options average
    /// every layer (see <see cref="ElmoEmbedder"/>).</summary>
    public ElmoEmbedder CreateElmoEmbedder(EmbeddingOptions? options = null) => new(RequireElmo("embedding"), options);

    /// <summary>An embedder for whichever model this is: <see cref="CreateElmoEmbedder"/> for ELMo, else
    /// <see cref="CreateEmbedder"/>; null options take the family's default (BERT: the last layer; ELMo: every layer averaged).</summary>
    public ITextEmbedder CreateTextEmbedder(EmbeddingOptions? options = null) =>
        Elmo is not null ? CreateElmoEmbedder(options) : CreateEmbedder(options);

    /// <summary>Sentence and token vectors of each text, in order (BERT or ELMo).</summary>
    public IReadOnlyList<SentenceVectors> Embed(IEnumerable<string> texts, EmbeddingOptions? options = null)
    {
        var embedder = CreateTextEmbedder(options);
        return texts.Select(t => embedder.Embed(t, embedder.Pooling)).ToList();
    }

    /// <summary>Cosine similarity of two texts' sentence vectors (BERT).</summary>
    public double Similarity(string a, string b, EmbeddingOptions? options = null)
    {
        var v = Embed([a, b], options);
        return VectorSimilarity.Cosine(v[0].Sentence, v[1].Sentence);
    }

    /// <summary>Predictions of the fine-tuned head for examples built in memory (the label fields are ignored).</summary>
    public IReadOnlyList<TaskPrediction> Predict(IReadOnlyList<TaskExample> examples, int batchSize = 32)
    {
        var ft = RequireHead("prediction");
        if (FineTuneTasks.IsTokenLevel(ft.Task))
            throw new InvalidInputException($"{Directory}: a {FineTuneTasks.Name(ft.Task)} head predicts per token; use FineTuned.PredictTags or FineTuned.PredictSpans");
        var set = ft.Encode(new TaskData("examples", examples), requireLabels: false);
        return ft.Predict(set, Math.Max(1, batchSize));
    }

    /// <summary>
    /// The label of each text (a classify head) or of each (text, pair) (a pair head, <paramref name="pairs"/> given).
    /// </summary>
    public IReadOnlyList<LabelPrediction> Classify(IReadOnlyList<string> texts, IReadOnlyList<string>? pairs = null)
    {
        var ft = RequireHead("classification");
        if (ft.Task is not (FineTuneTask.Classify or FineTuneTask.Pair) || ft.Labels is null)
            throw new InvalidInputException(Refusal("classification", "a classify or pair head"));
        if ((ft.Task == FineTuneTask.Pair) != (pairs is not null))
            throw new InvalidInputException($"{Directory}: a {FineTuneTasks.Name(ft.Task)} head takes {(ft.Task == FineTuneTask.Pair ? "a second text per example (pairs)" : "one text per example (no pairs)")}");
        if (pairs is not null && pairs.Count != texts.Count)
            throw new InvalidInputException($"{texts.Count} texts but {pairs.Count} pairs; give one pair per text");
        var examples = texts.Select((t, i) => new TaskExample(i + 1, t, pairs?[i], null, null)).ToList();
        var names = ft.Labels.Labels;
        return Predict(examples).Select(p => new LabelPrediction(names[p.Class], p.Class,
            names.Select((n, j) => (n, j)).ToDictionary(x => x.n, x => p.Probabilities[x.j]))).ToList();
    }

    /// <summary>
    /// One target per source from the encoder–decoder model (<see cref="Seq2SeqFineTuning.Translate"/>): greedy
    /// decoding by default, beam search when <see cref="Seq2SeqDecodingOptions.Beam"/> is set.
    /// </summary>
    /// <exception cref="InvalidInputException">The folder holds no encoder–decoder model, or an option is out of range.</exception>
    public IReadOnlyList<string> Translate(IReadOnlyList<string> sources, Seq2SeqDecodingOptions? options = null) =>
        Seq2SeqFineTuning.Translate(RequireSeq2Seq("translation"), Tokenizer, sources, options);

    /// <summary>The target of one source (see <see cref="Translate(IReadOnlyList{string}, Seq2SeqDecodingOptions?)"/>).</summary>
    public string Translate(string source, Seq2SeqDecodingOptions? options = null) => Translate([source], options)[0];

    BartForConditionalGeneration RequireSeq2Seq(string job)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return Seq2Seq ?? throw new InvalidInputException(Refusal(job, "an encoder-decoder model"));
    }

    Gpt RequireGpt(string job)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return Gpt ?? throw new InvalidInputException(Refusal(job, "a GPT language model"));
    }

    BertForPreTraining RequireBert(string job)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return Bert ?? throw new InvalidInputException(Refusal(job, "a BERT with its pre-training heads"));
    }

    ElmoBiLm RequireElmo(string job)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return Elmo ?? throw new InvalidInputException(Refusal(job, "an ELMo biLM"));
    }

    FineTuneModel RequireHead(string job)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        return FineTuned ?? throw new InvalidInputException(Refusal(job, $"a fine-tuned model ({FineTuneModel.InfoFile})"));
    }

    /// <summary>Frees the model's native memory; the object and everything borrowed from it are unusable afterwards.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Gpt?.Dispose();
        Bert?.Dispose();
        Elmo?.Dispose();
        FineTuned?.Dispose();
        Seq2Seq?.Dispose();
    }
}
