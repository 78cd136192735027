using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>How to load a Hugging Face checkpoint.</summary>
public sealed record HfLoadOptions
{
    /// <summary>float32 or bfloat16; the model's parameters are created in this dtype and the stored tensors converted.</summary>
    public ScalarType DType { get; init; } = ScalarType.Float32;

    /// <summary>Keep freshly initialised parameters the checkpoint lacks (e.g. BERT heads when loading a BertModel).</summary>
    public bool AllowMissing { get; init; }

    /// <summary>Skip tensors our model has no place for (e.g. a sequence classifier's <c>classifier.*</c>).</summary>
    public bool AllowUnexpected { get; init; }
}

/// <summary>What a load did, by Hugging Face tensor name (ours for <see cref="Missing"/>).</summary>
public sealed record HfLoadReport(
    string Architecture, int Loaded, IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected,
    IReadOnlyList<string> Ignored, IReadOnlyList<string> Tied);

/// <summary>
/// Hugging Face model folders (config.json + model.safetensors or a sharded index + tokenizer files) to our
/// <see cref="Gpt"/> / <see cref="BertForPreTraining"/> and back. Loads validate every tensor (names, shapes,
/// tied copies) before the first is copied, so a bad checkpoint never yields a half-loaded model.
/// </summary>
public static class HfCheckpoint
{
    /// <summary>In our model folder, the fields of the imported config.json that our config does not hold, for export.</summary>
    public const string ExtraConfigFile = "hf_config.json";

    /// <summary>A GPT-2 from a Hugging Face folder (config.json + safetensors): keys mapped, Conv1D weights transposed, shapes checked before anything is copied. The caller owns (disposes) the model.</summary>
    public static (Gpt Model, HfConfig Config, HfLoadReport Report) LoadGpt(string dir, HfLoadOptions? options = null)
    {
        var config = LoadConfig(dir, ModelFamily.Gpt2);
        var model = new Gpt(config.Gpt! with { Architectures = ["GPT2LMHeadModel"] });
        try
        {
            var report = LoadInto(model, dir, config, options ?? new(), (key, ours, _) => HfKeyMap.Gpt(key, ours));
            return (model, config, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A BERT with its pre-training heads from a Hugging Face folder, checked as <see cref="LoadGpt"/>. The caller owns (disposes) the model.</summary>
    public static (BertForPreTraining Model, HfConfig Config, HfLoadReport Report) LoadBert(string dir, HfLoadOptions? options = null)
    {
        var config = LoadConfig(dir, ModelFamily.Bert);
        var model = new BertForPreTraining(config.Bert! with { Architectures = ["BertForPreTraining"] });
        try
        {
            var report = LoadInto(model, dir, config, options ?? new(), HfKeyMap.Bert);
            return (model, config, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// An encoder–decoder model from a BART or mBART folder (BartForConditionalGeneration keys, with or without the
    /// <c>model.</c> prefix; tied copies of the shared embedding checked equal). A checkpoint without
    /// <c>final_logits_bias</c> (a BartModel) loads with a zero bias. Also reads our own BART folders, whose keys are
    /// the same. The caller owns (disposes) the model.
    /// </summary>
    public static (BartForConditionalGeneration Model, HfConfig Config, HfLoadReport Report) LoadBart(string dir, HfLoadOptions? options = null)
    {
        var config = LoadConfig(dir, ModelFamily.Bart);
        var model = new BartForConditionalGeneration(config.Bart!);
        try
        {
            var report = LoadInto(model, dir, config, options ?? new(), HfKeyMap.Bart, new HashSet<string> { HfKeyMap.BartFinalLogitsBias });
            return (model, config, report);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    static HfConfig LoadConfig(string dir, ModelFamily? family)
    {
        if (!Directory.Exists(dir)) throw new InvalidInputException($"{dir}: no such folder");
        var config = HfConfig.Load(Path.Combine(dir, ModelFolder.ConfigFile));
        if (family is { } f && ModelFamilies.Parse(config.ModelType, "model_type") != f)
            throw new InvalidInputException($"{Path.Combine(dir, ModelFolder.ConfigFile)}: model_type is \"{config.ModelType}\", expected \"{f.ModelType}\"");
        return config;
    }

    static HfLoadReport LoadInto(nn.Module model, string dir, HfConfig config, HfLoadOptions options,
        Func<string, Func<string, bool>, IReadOnlySet<string>, HfKeyTarget> map, IReadOnlySet<string>? optional = null)
    {
        if (options.DType is not (ScalarType.Float32 or ScalarType.BFloat16))
            throw new InvalidInputException($"dtype {options.DType} is not supported for loading (use float32 or bfloat16)");
        if (options.DType != ScalarType.Float32) model.to(options.DType);
        model.eval();
        using var source = HfWeightSource.Open(dir);
        var target = model.state_dict();
        var ours = target.Keys.ToHashSet(StringComparer.Ordinal);
        var theirs = source.Names.ToHashSet(StringComparer.Ordinal);

        var plan = new Dictionary<string, (string HfKey, bool Transpose)>(StringComparer.Ordinal);
        var tied = new List<(string HfKey, string TiedTo)>();
        var ignored = new List<string>();
        var unexpected = new List<string>();
        foreach (string name in source.Names)
        {
            switch (map(name, ours.Contains, theirs))
            {
                case HfKeyTarget.Parameter p:
                    if (plan.TryGetValue(p.Key, out var other))
                        throw new InvalidInputException($"{source.Path}: tensors '{other.HfKey}' and '{name}' both map to '{p.Key}'");
                    plan[p.Key] = (name, p.Transpose);
                    break;
                case HfKeyTarget.Tied t: tied.Add((name, t.TiedTo)); break;
                case HfKeyTarget.Ignored: ignored.Add(name); break;
                default: unexpected.Add(name); break;
            }
        }
        var missing = ours.Where(k => !plan.ContainsKey(k) && optional?.Contains(k) != true).Order(StringComparer.Ordinal).ToList();
        string architecture = config.Architectures.FirstOrDefault() ?? config.ModelType;
        if (missing.Count > 0 && !options.AllowMissing)
            throw new InvalidInputException($"{source.Path}: {missing.Count} tensor(s) the model needs are missing ({architecture} checkpoint): {NameList(missing)} ({nameof(HfLoadOptions)}.{nameof(HfLoadOptions.AllowMissing)} initialises them fresh)");
        if (unexpected.Count > 0 && !options.AllowUnexpected)
            throw new InvalidInputException($"{source.Path}: {unexpected.Count} unexpected tensor(s) ({architecture} checkpoint): {NameList(unexpected)} ({nameof(HfLoadOptions)}.{nameof(HfLoadOptions.AllowUnexpected)} drops them)");

        string configPath = Path.Combine(dir, ModelFolder.ConfigFile);
        foreach (var (key, (hfKey, transpose)) in plan)
        {
            var info = source.GetInfo(hfKey);
            if (info.ScalarType is not (ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16))
                throw new InvalidInputException($"{source.Path}: tensor '{hfKey}' has dtype {info.DType}; expected a floating-point dtype");
            long[] shape = transpose && info.Shape.Length == 2 ? [info.Shape[1], info.Shape[0]] : info.Shape;
            long[] expected = transpose ? [target[key].shape[1], target[key].shape[0]] : target[key].shape;
            if (!shape.SequenceEqual(target[key].shape))
                throw new InvalidInputException($"{source.Path}: tensor '{hfKey}' has shape [{string.Join(", ", info.Shape)}] but {configPath} implies [{string.Join(", ", expected)}]");
        }
        // A tied copy must really be a copy: a checkpoint with an untied head would load into a different model.
        foreach (var (hfKey, tiedTo) in tied)
        {
            if (!plan.TryGetValue(tiedTo, out var owner)) continue;
            using var scope = NewDisposeScope();
            var copy = source.Load(hfKey, ScalarType.Float32);
            var original = source.Load(owner.HfKey, ScalarType.Float32);
            if (!copy.shape.SequenceEqual(original.shape) || !copy.eq(original).all().item<bool>())
                throw new InvalidInputException($"{source.Path}: tensor '{hfKey}' differs from '{owner.HfKey}'; Ptm ties them, so an untied checkpoint cannot be loaded");
        }

        using (no_grad())
        {
            foreach (var (key, (hfKey, transpose)) in plan)
            {
                using var loaded = source.Load(hfKey, options.DType);
                if (transpose)
                {
                    using var t = loaded.t();
                    target[key].copy_(t);
                }
                else target[key].copy_(loaded);
            }
        }
        return new HfLoadReport(architecture, plan.Count, missing, unexpected, ignored, tied.Select(t => t.HfKey).ToList());
    }

    static string NameList(IReadOnlyList<string> names) =>
        string.Join(", ", names.Take(8)) + (names.Count > 8 ? $", ... ({names.Count - 8} more)" : "");

    /// <summary>
    /// Hugging Face folder to our model folder (config.json, model.safetensors, tokenizer files, and
    /// <see cref="ExtraConfigFile"/> with the config fields we do not model). Written to a temporary folder and
    /// renamed into place, so a failure leaves no output.
    /// </summary>
    public static HfLoadReport Convert(string from, string to, HfLoadOptions? options = null)
    {
        var config = LoadConfig(from, null);
        // The tokenizer first: it is cheap, and a folder without one cannot become a Ptm model folder.
        var tokenizer = TokenizerFiles.Load(from);
        int vocab = config.Gpt?.VocabSize ?? config.Bart?.VocabSize ?? config.Bert!.VocabSize;
        if (tokenizer.VocabSize > vocab)
            throw new InvalidInputException($"{from}: tokenizer has {tokenizer.VocabSize} tokens but config.json vocab_size is {vocab}");
        HfLoadReport report = null!;
        if (config.Bart is not null)
        {
            if (tokenizer is not ByteLevelBpeTokenizer)
                throw new InvalidInputException($"{from}: a BART model needs byte-level BPE tokenizer files (vocab.json + merges.txt, or a BPE tokenizer.json), found {tokenizer.Kind}");
            var (model, _, r) = LoadBart(from, options);
            using (model)
                StagedDirectory.Create(to, temp => { ModelFolder.SaveModel(temp, model, tokenizer); SaveExtra(temp, config.Extra); });
            report = r;
        }
        else if (config.Gpt is not null)
        {
            if (tokenizer is not ByteLevelBpeTokenizer)
                throw new InvalidInputException($"{from}: a GPT-2 model needs byte-level BPE tokenizer files (vocab.json + merges.txt, or a BPE tokenizer.json), found {tokenizer.Kind}");
            var (model, _, r) = LoadGpt(from, options);
            using (model)
                StagedDirectory.Create(to, temp => { ModelFolder.SaveModel(temp, model, tokenizer); SaveExtra(temp, config.Extra); });
            report = r;
        }
        else
        {
            if (tokenizer is not WordPieceTokenizer)
                throw new InvalidInputException($"{from}: a BERT model needs a WordPiece vocabulary (vocab.txt or a WordPiece tokenizer.json), found {tokenizer.Kind}");
            var (model, _, r) = LoadBert(from, options);
            using (model)
                StagedDirectory.Create(to, temp => { ModelFolder.SaveModel(temp, model, tokenizer); SaveExtra(temp, config.Extra); });
            report = r;
        }
        return report;
    }

    static void SaveExtra(string dir, JsonObject extra)
    {
        if (extra.Count > 0) AtomicFile.WriteAllText(Path.Combine(dir, ExtraConfigFile), extra.ToJsonString(JsonOut) + "\n");
    }

    internal static readonly JsonSerializerOptions JsonOut = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A WordPiece tokenizer's Hugging Face files in <paramref name="folder"/>: what
    /// <see cref="WordPieceTokenizer"/> saves, plus <c>special_tokens_map.json</c> with BERT's special tokens.</summary>
    internal static void WriteWordPieceFiles(string folder, WordPieceTokenizer tokenizer)
    {
        tokenizer.Save(folder);
        var special = new JsonObject
        {
            ["unk_token"] = tokenizer.Settings.UnknownToken,
            ["sep_token"] = WordPieceTokenizer.SepToken,
            ["pad_token"] = WordPieceTokenizer.PadToken,
            ["cls_token"] = WordPieceTokenizer.ClsToken,
            ["mask_token"] = WordPieceTokenizer.MaskToken,
        };
        AtomicFile.WriteAllText(Path.Combine(folder, "special_tokens_map.json"), special.ToJsonString(JsonOut) + "\n");
    }

    /// <summary>Our model folder (or run folder) to a Hugging Face folder; config fields kept at import are written back.
    /// An ELECTRA checkpoint exports its discriminator as ElectraForPreTraining (<see cref="HfElectra.Export"/>).</summary>
    public static string ExportFolder(string modelDir, string to)
    {
        string dir = Checkpoints.ResolveModelDirectory(modelDir);
        string extraPath = Path.Combine(dir, ExtraConfigFile);
        var extra = File.Exists(extraPath) ? JsonObject.Create(JsonFiles.ReadObject(extraPath)) : null;
        if (HfElectra.IsElectraFolder(dir))
        {
            HfElectra.Export(dir, to);
            return HfElectra.Architecture;
        }
        if (ModelFolder.Family(dir) == ModelFamily.Bart)
        {
            var (bart, bpe) = ModelFolder.LoadBart(dir);
            using (bart) Export(bart, bpe, to, extra);
            return bart.Config.PreLayerNorm ? "MBartForConditionalGeneration" : "BartForConditionalGeneration";
        }
        if (ModelFolder.Family(dir) == ModelFamily.Gpt2)
        {
            var (model, tokenizer) = ModelFolder.LoadGpt(dir);
            using (model) Export(model, tokenizer, to, extra);
            return "GPT2LMHeadModel";
        }
        string configPath = Path.Combine(dir, ModelFolder.ConfigFile);
        // Checked on the file first, so that the message names it (Export checks the loaded model too).
        if (JsonFiles.ReadObject(configPath).TryGetProperty("pre_layer_norm", out var pre) && pre.ValueKind == JsonValueKind.True)
            throw new InvalidInputException($"{configPath}: {PreLayerNormRefusal("BERT")}");
        var (bert, wordPiece) = ModelFolder.LoadBert(dir);
        using (bert) Export(bert, wordPiece, to, extra);
        return "BertForPreTraining";
    }

    /// <summary>
    /// Writes a GPT2LMHeadModel folder: weights under <c>transformer.</c> with Conv1D (in, out) orientation and
    /// no <c>lm_head.weight</c> (tied, and HF's save_pretrained omits tied copies), config.json, and
    /// vocab.json, merges.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json.
    /// </summary>
    public static void Export(Gpt model, ITokenizer tokenizer, string dir, JsonObject? extraConfig = null)
    {
        if (!model.Config.PreLayerNorm)
            throw new InvalidInputException("a post-LayerNorm (GPT-1 style) model has no Hugging Face GPT-2 equivalent");
        if (tokenizer is not ByteLevelBpeTokenizer bpe)
            throw new InvalidInputException($"a {tokenizer.Kind} tokenizer has no Hugging Face GPT-2 equivalent; export needs byte-level BPE");
        var config = model.Config;
        if (bpe.EndOfTextId is int eot) config = config with { BosTokenId = config.BosTokenId ?? eot, EosTokenId = config.EosTokenId ?? eot };
        var json = HfConfig.ToHuggingFace(config, "GPT2LMHeadModel", DTypeName(model), extraConfig);
        StagedDirectory.Create(dir, temp =>
        {
            var tensors = new List<KeyValuePair<string, Tensor>>();
            try
            {
                foreach (var (name, p) in model.state_dict())
                    tensors.Add(new(name, HfKeyMap.IsConv1DWeight(name) ? p.t() : p.alias()));
                SafeTensorsWriter.Write(Path.Combine(temp, ModelFolder.WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            }
            finally { foreach (var t in tensors) t.Value.Dispose(); }
            AtomicFile.WriteAllText(Path.Combine(temp, ModelFolder.ConfigFile), json.ToJsonString(JsonOut) + "\n");
            bpe.Save(temp);
            string? eos = bpe.EndOfTextId is int id ? bpe.TokenText(id) : null;
            var special = new JsonObject();
            if (eos is not null) { special["bos_token"] = eos; special["eos_token"] = eos; special["unk_token"] = eos; }
            var tokConfig = new JsonObject
            {
                ["tokenizer_class"] = "GPT2Tokenizer",
                ["add_prefix_space"] = false,
                ["model_max_length"] = model.Config.NPositions,
            };
            foreach (var (k, v) in special) tokConfig[k] = v?.DeepClone();
            AtomicFile.WriteAllText(Path.Combine(temp, "tokenizer_config.json"), tokConfig.ToJsonString(JsonOut) + "\n");
            AtomicFile.WriteAllText(Path.Combine(temp, "special_tokens_map.json"), special.ToJsonString(JsonOut) + "\n");
        });
    }

    /// <summary>
    /// Writes a BertForPreTraining folder: our keys are HF's; the decoder weight and bias are tied and, as in
    /// save_pretrained, not written. vocab.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json.
    /// </summary>
    /// <exception cref="InvalidInputException">The model is ALBERT-style or pre-LN (<c>pre_layer_norm</c>); Hugging Face's BERT has neither.</exception>
    public static void Export(BertForPreTraining model, WordPieceTokenizer tokenizer, string dir, JsonObject? extraConfig = null)
    {
        var c = model.Config;
        if ((c.EmbeddingSize is int e && e != c.HiddenSize) || c.ShareLayers)
            throw new InvalidInputException("an ALBERT-style model (factorised embeddings or shared layers) has no Hugging Face BERT equivalent");
        if (c.PreLayerNorm)
            throw new InvalidInputException(PreLayerNormRefusal("BERT"));
        var json = HfConfig.ToHuggingFace(c, "BertForPreTraining", DTypeName(model), extraConfig);
        StagedDirectory.Create(dir, temp =>
        {
            SafeTensorsWriter.Write(Path.Combine(temp, ModelFolder.WeightsFile), model.state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
            AtomicFile.WriteAllText(Path.Combine(temp, ModelFolder.ConfigFile), json.ToJsonString(JsonOut) + "\n");
            WriteWordPieceFiles(temp, tokenizer);
        });
    }

    /// <summary>
    /// Writes a BartForConditionalGeneration folder (MBartForConditionalGeneration, <c>model_type</c> "mbart", for
    /// pre-LN models): our keys are Hugging Face's; the tied LM head and embed_tokens copies are not written, as in
    /// save_pretrained. vocab.json, merges.txt, tokenizer.json, tokenizer_config.json, special_tokens_map.json.
    /// </summary>
    public static void Export(BartForConditionalGeneration model, ByteLevelBpeTokenizer tokenizer, string dir, JsonObject? extraConfig = null)
    {
        var c = model.Config;
        bool pre = c.PreLayerNorm;
        c = c with { ModelType = pre ? BartConfig.MBartModelType : ModelFamily.Bart.ModelType };
        string architecture = pre ? "MBartForConditionalGeneration" : "BartForConditionalGeneration";
        var json = HfConfig.ToHuggingFace(c, architecture, DTypeName(model), extraConfig);
        json["is_encoder_decoder"] = true;
        StagedDirectory.Create(dir, temp =>
        {
            SafeTensorsWriter.Write(Path.Combine(temp, ModelFolder.WeightsFile), model.state_dict(), new Dictionary<string, string> { ["format"] = "pt" });
            AtomicFile.WriteAllText(Path.Combine(temp, ModelFolder.ConfigFile), json.ToJsonString(JsonOut) + "\n");
            tokenizer.Save(temp);
            var special = new JsonObject();
            foreach (var (field, id) in new[] { ("bos_token", c.BosTokenId), ("eos_token", c.EosTokenId), ("pad_token", c.PadTokenId) })
                if (id < tokenizer.VocabSize) special[field] = tokenizer.TokenText(id);
            foreach (var (field, token) in new[] { ("unk_token", "<unk>"), ("mask_token", "<mask>") })
                if (tokenizer.SpecialTokens.Contains(token)) special[field] = token;
            var tokConfig = new JsonObject
            {
                ["tokenizer_class"] = pre ? "MBartTokenizer" : "BartTokenizer",
                ["add_prefix_space"] = false,
                ["model_max_length"] = c.MaxPositionEmbeddings,
            };
            foreach (var (k, v) in special) tokConfig[k] = v?.DeepClone();
            AtomicFile.WriteAllText(Path.Combine(temp, "tokenizer_config.json"), tokConfig.ToJsonString(JsonOut) + "\n");
            AtomicFile.WriteAllText(Path.Combine(temp, "special_tokens_map.json"), special.ToJsonString(JsonOut) + "\n");
        });
    }

    /// <summary>Why a pre-LN BERT or ELECTRA cannot be exported: Hugging Face's BERT and ELECTRA layers are post-LN only.</summary>
    internal static string PreLayerNormRefusal(string family) =>
        $"config field 'pre_layer_norm' is true: a pre-LayerNorm model has no Hugging Face {family} equivalent (its layers are post-LN only)";

    static string DTypeName(nn.Module model) => model.parameters().First().dtype switch
    {
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => "float32",
    };
}
