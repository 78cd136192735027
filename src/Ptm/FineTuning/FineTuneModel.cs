using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.HuggingFace;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.FineTuning;

/// <summary>What finetune.json records next to config.json: everything needed to rebuild the head and its inputs.</summary>
public sealed record FineTuneInfo
{
    /// <summary>The pre-trained model's family: <c>gpt2</c> or <c>bert</c>.</summary>
    [JsonPropertyName("family")] public string Family { get; init; } = "";
    /// <summary>The task's name as <see cref="FineTuneTasks.Parse"/> reads it.</summary>
    [JsonPropertyName("task")] public string Task { get; init; } = "";
    /// <summary>The head module's name, recorded for readers of the folder.</summary>
    [JsonPropertyName("head")] public string Head { get; init; } = "";
    /// <summary>The head's outputs: the classes, 1 for similarity and choice, 2 (start, end) for span QA; <c>num_labels</c>.</summary>
    [JsonPropertyName("num_labels")] public int NumLabels { get; init; }
    /// <summary>Tokens per encoded sequence, at most the model's context.</summary>
    [JsonPropertyName("max_length")] public int MaxLength { get; init; }
    /// <summary>GPT-1's λ, the weight of the auxiliary LM loss; 0 for BERT.</summary>
    [JsonPropertyName("lm_coef")] public double LmCoef { get; init; }
    // Span QA's windows and answer choice (absent, hence 0, for the other tasks).
    /// <summary>Span QA: tokens between the starts of a context's windows.</summary>
    [JsonPropertyName("doc_stride")] public int DocStride { get; init; }
    /// <summary>Span QA: the longest answer considered, in tokens.</summary>
    [JsonPropertyName("max_answer_length")] public int MaxAnswerLength { get; init; }
    /// <summary>Span QA: the start and end candidates kept per window when decoding.</summary>
    [JsonPropertyName("n_best")] public int NBest { get; init; }

    /// <summary>The three span QA fields as one value.</summary>
    public SpanOptions SpanOptions => new(DocStride, MaxAnswerLength, NBest);
}

/// <summary>Options for putting a fresh head on a pre-trained model.</summary>
/// <param name="MaxLength">Tokens per sequence; null means the model's context.</param>
/// <param name="LmCoef">GPT-1's λ for the auxiliary LM loss (§3.2); ignored for BERT.</param>
/// <param name="DocStride">Span QA: tokens between window starts; null means a third of the max length.</param>
/// <param name="Seed">Seeds the new weights: the head and, for GPT, the task tokens' embedding rows.</param>
/// <param name="MaxAnswerLength">Span QA: the longest answer considered, in tokens.</param>
/// <param name="NBest">Span QA: start and end candidates kept per window when decoding.</param>
public sealed record HeadOptions(int? MaxLength = null, double LmCoef = 0.5, long Seed = 1337, int? DocStride = null, int MaxAnswerLength = 30, int NBest = 20);

/// <summary>One prediction: the class (or chosen answer) with its probabilities, or a similarity score.</summary>
public sealed record TaskPrediction(int Class, float[] Probabilities, float Score);

/// <summary>
/// A pre-trained GPT or BERT with a task head, its tokenizer and input encoder, and its label map. The folder it
/// saves to is a model folder (config.json, model.safetensors, tokenizer files) plus finetune.json and labels.json.
/// </summary>
public sealed partial class FineTuneModel : IDisposable
{
    /// <summary>The file in a model folder that records the head (<see cref="FineTuneInfo"/>).</summary>
    public const string InfoFile = "finetune.json";

    readonly string configJson;

    FineTuneModel(FineTuneInfo info, nn.Module module, ITokenizer tokenizer, ITaskEncoder encoder, LabelMap? labels, string configJson)
    {
        Info = info;
        Task = FineTuneTasks.Parse(info.Task, InfoFile);
        Module = module;
        Tokenizer = tokenizer;
        Encoder = encoder;
        Labels = labels;
        this.configJson = configJson;
    }

    /// <summary>What finetune.json records for this model.</summary>
    public FineTuneInfo Info { get; }
    /// <summary>The task the head solves.</summary>
    public FineTuneTask Task { get; }
    /// <summary>The network (pre-trained body and head); owned by this model and disposed with it.</summary>
    public nn.Module Module { get; }
    /// <summary>The model's tokenizer; a GPT's includes the three task tokens.</summary>
    public ITokenizer Tokenizer { get; }
    /// <summary>Turns task examples into token ids in this family's framing.</summary>
    public ITaskEncoder Encoder { get; }
    /// <summary>Class names ↔ ids; null for tasks without classes (similarity, choice, span).</summary>
    public LabelMap? Labels { get; }
    /// <summary>True for a GPT-2 body, false for BERT.</summary>
    public bool IsGpt => ModelFamilies.TryParse(Info.Family, out var family) && family == ModelFamily.Gpt2;
    /// <summary>The weight of the auxiliary LM loss in <see cref="Loss"/>: <see cref="FineTuneInfo.LmCoef"/> for GPT, 0 for BERT.</summary>
    public double LmCoef => IsGpt ? Info.LmCoef : 0;

    /// <summary>The head's own parameter names (fresh at the start of fine-tuning; everything else is pre-trained).</summary>
    public static bool IsHeadParameter(string name) => name.StartsWith("classifier.", StringComparison.Ordinal) || name.StartsWith("score.", StringComparison.Ordinal)
        || name.StartsWith("qa_outputs.", StringComparison.Ordinal) || name.StartsWith("scalar_mix.", StringComparison.Ordinal);

    /// <summary>
    /// Loads a pre-trained model folder (or run folder) of either family and puts a freshly initialised head on it.
    /// The pre-trained weights are loaded strictly (every tensor must be there with its shape); only the head's
    /// keys are new. BERT's pre-training heads (cls.*) are left behind. A GPT gets GPT-1's three task tokens.
    /// </summary>
    public static FineTuneModel FromPretrained(string path, FineTuneTask task, LabelMap? labels, HeadOptions options)
    {
        if (FineTuneTasks.HasLabelMap(task) && labels is null) throw new ArgumentException("classification needs a label map", nameof(labels));
        string dir = Checkpoints.ResolveModelDirectory(path);
        var family = ModelFolder.Family(dir);
        int numLabels = task switch { FineTuneTask.Similarity => 1, FineTuneTask.Choice => 1, FineTuneTask.Span => 2, _ => labels!.Count };
        manual_seed(options.Seed);
        if (family == ModelFamily.Bert)
        {
            var (pre, tokenizer) = ModelFolder.LoadBert(dir);
            int max = CheckMaxLength(options.MaxLength, pre.Config.MaxPositionEmbeddings);
            var module = BertHead(pre.DetachEncoder(), task, numLabels);
            var info = WithSpanOptions(new FineTuneInfo { Family = family.ModelType, Task = FineTuneTasks.Name(task), Head = module.GetName(), NumLabels = numLabels, MaxLength = max }, task, options);
            return new FineTuneModel(info, module, tokenizer, new BertTaskEncoder(tokenizer, max), labels, pre.Config.ToJson());
        }
        if (family == ModelFamily.Gpt2)
        {
            var (gpt, anyTokenizer) = ModelFolder.LoadGpt(dir);
            if (anyTokenizer is not ByteLevelBpeTokenizer bpe)
                throw new InvalidInputException($"{dir}: GPT fine-tuning adds the tokens {string.Join(" ", GptTaskVocabulary.Tokens)} to a byte-level BPE vocabulary, but this model has a {anyTokenizer.Kind} tokenizer");
            var (grown, tokenizer, ids) = GptTaskVocabulary.Extend(gpt, bpe);
            if (!ReferenceEquals(grown, gpt)) gpt.Dispose();
            int max = CheckMaxLength(options.MaxLength, grown.Config.NPositions);
            var module = GptHead(grown.Transformer, task, numLabels);
            var info = WithSpanOptions(new FineTuneInfo { Family = family.ModelType, Task = FineTuneTasks.Name(task), Head = module.GetName(), NumLabels = numLabels, MaxLength = max, LmCoef = options.LmCoef }, task, options);
            return new FineTuneModel(info, module, tokenizer, new GptTaskEncoder(tokenizer, ids, max), labels, grown.Config.ToJson());
        }
        if (family == ModelFamily.Elmo)
        {
            if (task is not (FineTuneTask.Classify or FineTuneTask.Pair or FineTuneTask.Similarity))
                throw new InvalidInputException($"{dir}: ELMo fine-tuning supports the classify, pair and similarity tasks (got {FineTuneTasks.Name(task)})");
            var (elmo, vocabulary) = ElmoFolder.Load(dir);
            int max = CheckMaxLength(options.MaxLength, ElmoTaskEncoder.DefaultMaxWords);
            var module = new ElmoForSequenceClassification(elmo, numLabels, pair: task != FineTuneTask.Classify);
            var info = new FineTuneInfo { Family = family.ModelType, Task = FineTuneTasks.Name(task), Head = module.GetName(), NumLabels = numLabels, MaxLength = max };
            return new FineTuneModel(info, module, vocabulary, new ElmoTaskEncoder(max, elmo.Config.MaxCharactersPerToken), labels, elmo.Config.ToJson());
        }
        throw new InvalidInputException($"{Path.Combine(dir, ModelFolder.ConfigFile)}: model_type \"{family.ModelType}\" has no fine-tuning heads");
    }

    /// <summary>Span QA's windows and answer choice, checked and recorded in finetune.json; other tasks have none.</summary>
    static FineTuneInfo WithSpanOptions(FineTuneInfo info, FineTuneTask task, HeadOptions options)
    {
        if (task != FineTuneTask.Span) return info;
        int stride = options.DocStride ?? SpanOptions.DefaultStride(info.MaxLength);
        if (stride < 1 || options.MaxAnswerLength < 1 || options.NBest < 1)
        {
            if (stride < 1) throw new InvalidOptionException(nameof(FineTuningOptions), nameof(FineTuningOptions.DocStride), "must be positive", stride);
            if (options.MaxAnswerLength < 1) throw new InvalidOptionException(nameof(FineTuningOptions), nameof(FineTuningOptions.MaxAnswerLength), "must be positive", options.MaxAnswerLength);
            throw new InvalidOptionException(nameof(FineTuningOptions), nameof(FineTuningOptions.NBest), "must be positive", options.NBest);
        }
        return info with { DocStride = stride, MaxAnswerLength = options.MaxAnswerLength, NBest = options.NBest };
    }

    static int CheckMaxLength(int? requested, int context)
    {
        if (requested is null) return context;
        if (requested < 8 || requested > context)
            throw new InvalidOptionException(nameof(FineTuningOptions), nameof(FineTuningOptions.MaxLength), $"must be in [8, {context}] for this model", requested);
        return requested.Value;
    }

    static nn.Module BertHead(BertModel bert, FineTuneTask task, int numLabels) => task switch
    {
        FineTuneTask.Choice => new BertForMultipleChoice(bert),
        FineTuneTask.Tag => new BertForTokenClassification(bert, numLabels),
        FineTuneTask.Span => new BertForQuestionAnswering(bert),
        _ => new BertForSequenceClassification(bert, numLabels),
    };

    static nn.Module GptHead(GptTransformer transformer, FineTuneTask task, int numLabels) => task switch
    {
        FineTuneTask.Choice => new GptForMultipleChoice(transformer),
        FineTuneTask.Tag => new GptForTokenClassification(transformer, numLabels),
        FineTuneTask.Span => new GptForQuestionAnswering(transformer),
        _ => new GptForSequenceClassification(transformer, numLabels),
    };

    /// <summary>Loads a folder written by <see cref="Save"/> (or a fine-tuning run folder: its latest checkpoint).</summary>
    public static FineTuneModel Load(string path)
    {
        string dir = Checkpoints.ResolveModelDirectory(path);
        string infoPath = Path.Combine(dir, InfoFile);
        if (!File.Exists(infoPath)) throw new InvalidInputException($"{dir}: not a fine-tuned model (no {InfoFile}); fine-tune a pre-trained model first (FineTuner)");
        FineTuneInfo info;
        try { info = JsonFiles.ReadObject(infoPath).Deserialize<FineTuneInfo>(JsonFiles.Options) ?? throw new JsonException("empty"); }
        catch (JsonException e) { throw new InvalidInputException($"{infoPath}: malformed ({e.Message.Split('\n')[0]})"); }
        var task = FineTuneTasks.Parse(info.Task, infoPath);
        var labels = FineTuneTasks.HasLabelMap(task) ? LabelMap.Load(dir) : null;
        if (labels is not null && labels.Count != info.NumLabels)
            throw new InvalidInputException($"{Path.Combine(dir, LabelMap.FileName)}: {labels.Count} labels, but {InfoFile} says num_labels is {info.NumLabels}");
        string configPath = Path.Combine(dir, ModelFolder.ConfigFile);
        FineTuneModel model;
        if (!ModelFamilies.TryParse(info.Family, out var infoFamily))
            throw new InvalidInputException($"{infoPath}: field 'family' must be {ModelFamilies.Expected} (got \"{info.Family}\")");
        // ELMo reads words as characters; its folder holds the softmax vocabulary, not tokenizer files.
        ITokenizer tokenizer = infoFamily == ModelFamily.Elmo ? ElmoVocabulary.Load(dir) : TokenizerFiles.Load(dir);
        if (infoFamily == ModelFamily.Elmo)
        {
            var config = ElmoConfig.Load(configPath);
            var module = new ElmoForSequenceClassification(new ElmoBiLm(config), info.NumLabels, pair: task != FineTuneTask.Classify);
            model = new FineTuneModel(info, module, tokenizer, new ElmoTaskEncoder(info.MaxLength, config.MaxCharactersPerToken), labels, config.ToJson());
        }
        else if (infoFamily == ModelFamily.Bert)
        {
            var config = BertConfig.Load(configPath);
            if (tokenizer is not WordPieceTokenizer wp) throw new InvalidInputException($"{dir}: a BERT model needs a WordPiece vocabulary (vocab.txt or tokenizer.json)");
            var module = BertHead(new BertModel(config), task, info.NumLabels);
            model = new FineTuneModel(info, module, tokenizer, new BertTaskEncoder(wp, info.MaxLength), labels, config.ToJson());
        }
        else
        {
            var config = GptConfig.Load(configPath);
            if (tokenizer is not ByteLevelBpeTokenizer bpe || GptTaskVocabulary.Find(bpe) is not { } ids)
                throw new InvalidInputException($"{dir}: a fine-tuned GPT needs its BPE vocabulary with {string.Join(" ", GptTaskVocabulary.Tokens)}");
            var module = GptHead(new GptTransformer(config), task, info.NumLabels);
            model = new FineTuneModel(info, module, tokenizer, new GptTaskEncoder(bpe, ids, info.MaxLength), labels, config.ToJson());
        }
        ModelFolder.LoadWeights(model.Module, Path.Combine(dir, ModelFolder.WeightsFile));
        model.Module.eval();
        return model;
    }

    /// <summary>Writes config.json, model.safetensors (HF names: bert.*/transformer.* and classifier.*/score.*/qa_outputs.*),
    /// the tokenizer files, finetune.json and, for classifiers, labels.json.</summary>
    public void Save(string dir)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, ModelFolder.ConfigFile), configJson);
        SafeTensorsWriter.Write(Path.Combine(dir, ModelFolder.WeightsFile), Module.state_dict(),
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "ptm" });
        Tokenizer.Save(dir);
        Labels?.Save(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, InfoFile), JsonSerializer.Serialize(Info, JsonFiles.Indented));
    }

    /// <summary>Frees the model's native memory (encoder and head).</summary>
    public void Dispose() => Module.Dispose();

    /// <summary>Trains only the head: every pre-trained parameter stops receiving gradients.</summary>
    public void FreezeEncoder()
    {
        foreach (var (name, p) in Module.named_parameters())
            if (!IsHeadParameter(name)) p.requires_grad = false;
    }

    /// <summary>Encodes a task file; labels are mapped (an unseen one is an error) when <paramref name="requireLabels"/>.</summary>
    public EncodedTaskSet Encode(TaskData data, bool requireLabels)
    {
        if (FineTuneTasks.IsTokenLevel(Task)) return EncodeTokenLevel(data, requireLabels);
        var examples = new List<EncodedExample>(data.Count);
        int truncated = 0;
        foreach (var e in data.Examples)
        {
            var (sequences, types, cut) = Encoder.Encode(Task, e);
            if (cut) truncated++;
            int cls = -1;
            float score = 0;
            if (requireLabels)
            {
                string label = e.Label is { Length: > 0 } l ? l : throw new InvalidInputException($"{data.Source}, line {e.Line}: no label");
                switch (Task)
                {
                    case FineTuneTask.Similarity: score = LabelMap.Score(label, data.Source, e.Line); break;
                    case FineTuneTask.Choice: cls = LabelMap.ChoiceIndex(label, e.Choices!.Count, data.Source, e.Line); break;
                    default: cls = Labels!.Id(label, data.Source, e.Line); break;
                }
            }
            examples.Add(new EncodedExample(sequences, types, cls, score, cut));
        }
        return new EncodedTaskSet(data, examples, truncated);
    }

    /// <summary>Task scores: logits (B, num_labels) for classify/pair, a score (B) for similarity, one logit per
    /// choice (B, K) for choice, logits (B, T, num_labels) for tag, start/end logits (B, T, 2) for span; plus GPT-1's
    /// LM loss on the same inputs when asked for.</summary>
    public (Tensor Scores, Tensor? LmLoss) Forward(TaskBatch batch, bool withLm)
    {
        using var scope = NewDisposeScope();
        Tensor? lm = null;
        var head = Module as ITaskHead ?? throw new InvalidOperationException($"unknown head {Module.GetName()}");
        var (scores, lmLogits) = head.Forward(new TaskHeadInputs(batch.InputIds, batch.TokenTypeIds, batch.AttentionMask, batch.LastIndex), withLm);
        if (lmLogits is not null) lm = GptTaskLoss.LanguageModel(lmLogits, batch.InputIds, batch.LastIndex);
        if (Task == FineTuneTask.Similarity) scores = scores.squeeze(-1);
        return (scores.MoveToOuterDisposeScope(), lm?.MoveToOuterDisposeScope());
    }

    /// <summary>The supervised loss L2: cross-entropy over classes or choices, MSE for similarity.</summary>
    public Tensor TaskLoss(Tensor scores, TaskBatch batch) => Task switch
    {
        FineTuneTask.Similarity => nn.functional.mse_loss(scores, batch.Scores),
        FineTuneTask.Tag => TokenHeadLoss.Tagging(scores, batch.TokenLabels ?? throw new InvalidOperationException("tagging batch without labels")),
        FineTuneTask.Span => TokenHeadLoss.Span(scores, batch.StartPositions ?? throw new InvalidOperationException("span batch without answers"), batch.EndPositions!),
        _ => nn.functional.cross_entropy(scores, batch.Labels),
    };

    /// <summary>GPT-1's L3 = L2 + λ·L1 (§3.2); for BERT, or λ = 0, just L2. Returns the parts for logging.</summary>
    public (Tensor Total, Tensor Task, Tensor? Lm) Loss(TaskBatch batch)
    {
        using var scope = NewDisposeScope();
        var (scores, lm) = Forward(batch, LmCoef > 0);
        var task = TaskLoss(scores, batch);
        var total = lm is null ? task : task + LmCoef * lm;
        return (total.MoveToOuterDisposeScope(), task.MoveToOuterDisposeScope(), lm?.MoveToOuterDisposeScope());
    }

    /// <summary>Predictions for every example, in order, in eval mode without gradients.</summary>
    public List<TaskPrediction> Predict(EncodedTaskSet set, int batchSize = 32)
    {
        bool wasTraining = Module.training;
        if (FineTuneTasks.IsTokenLevel(Task)) throw new InvalidOperationException($"{Info.Task}: use PredictTags or PredictSpans");
        Module.eval();
        try
        {
            using var _ = no_grad();
            var result = new List<TaskPrediction>(set.Count);
            foreach (var (_, batch) in TaskBatchStream.Sequential(set, batchSize, Encoder.PadId))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    var (scores, _) = Forward(batch, false);
                    if (Task == FineTuneTask.Similarity)
                    {
                        foreach (float s in scores.to_type(ScalarType.Float32).data<float>().ToArray()) result.Add(new TaskPrediction(-1, [], s));
                        continue;
                    }
                    var probabilities = scores.softmax(-1).to_type(ScalarType.Float32);
                    long n = probabilities.shape[0], k = probabilities.shape[1];
                    var flat = probabilities.data<float>().ToArray();
                    for (int i = 0; i < n; i++)
                    {
                        var p = flat.AsSpan(i * (int)k, (int)k).ToArray();
                        int best = 0;
                        for (int j = 1; j < k; j++) if (p[j] > p[best]) best = j;
                        result.Add(new TaskPrediction(best, p, float.NaN));
                    }
                }
            }
            return result;
        }
        finally
        {
            Module.train(wasTraining);
        }
    }
}
