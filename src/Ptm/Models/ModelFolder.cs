using System.Text.Json;
using Ptm.HuggingFace;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm;

/// <summary>
/// A model folder in Hugging Face layout (config.json, model.safetensors, tokenizer files) plus, for
/// checkpoints, training.json, trainer_state.json and optimizer.bin. Loads return models in eval mode that the
/// caller owns and disposes; a run folder resolves through <see cref="Checkpoints.ResolveModelDirectory"/>.
/// For a family-agnostic load (ours or Hugging Face's, with or without a task head) see <see cref="LoadedModel"/>.
/// </summary>
public static class ModelFolder
{
    /// <summary>The model's hyper-parameters, under Hugging Face's names.</summary>
    public const string ConfigFile = "config.json";
    /// <summary>The weights, under Hugging Face's tensor names.</summary>
    public const string WeightsFile = "model.safetensors";
    /// <summary>A checkpoint's training settings.</summary>
    public const string TrainingFile = "training.json";
    /// <summary>A checkpoint's step, tokens seen and random state.</summary>
    public const string StateFile = "trainer_state.json";
    /// <summary>A checkpoint's optimizer moments.</summary>
    public const string OptimizerFile = "optimizer.bin";

    /// <summary>Writes config.json, model.safetensors and the tokenizer files of a GPT.</summary>
    public static void SaveModel(string dir, Gpt model, ITokenizer tokenizer) => Save(dir, model.Config.ToJson(), model, tokenizer);

    /// <summary>Writes config.json, model.safetensors and the tokenizer files of a BERT with its pre-training heads.</summary>
    public static void SaveModel(string dir, BertForPreTraining model, ITokenizer tokenizer) => Save(dir, model.Config.ToJson(), model, tokenizer);

    /// <summary>Writes config.json, model.safetensors (BartForConditionalGeneration keys, which are Hugging Face's) and
    /// the byte-level BPE tokenizer files of an encoder–decoder model.</summary>
    public static void SaveModel(string dir, BartForConditionalGeneration model, ITokenizer tokenizer) => Save(dir, model.Config.ToJson(), model, tokenizer);

    static void Save(string dir, string configJson, nn.Module model, ITokenizer tokenizer)
    {
        Directory.CreateDirectory(dir);
        AtomicFile.WriteAllText(Path.Combine(dir, ConfigFile), configJson);
        SafeTensorsWriter.Write(Path.Combine(dir, WeightsFile), model.state_dict(),
            new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "ptm" });
        tokenizer.Save(dir);
    }

    /// <summary>The <c>model_type</c> string of a model folder's config.json ("gpt2", "bert"), unchecked.</summary>
    public static string ModelType(string dir)
    {
        string path = Path.Combine(dir, ConfigFile);
        var root = JsonFiles.ReadObject(path);
        return root.TryGetProperty("model_type", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw new InvalidInputException($"{path}: missing field 'model_type' (expected {ModelFamilies.Expected})");
    }

    /// <summary>The family of a model folder, from config.json's <c>model_type</c>.</summary>
    public static ModelFamily Family(string dir) => ModelFamilies.Parse(ModelType(dir), $"{Path.Combine(dir, ConfigFile)}: field 'model_type'");

    /// <summary>
    /// Whether config.json was written by Ptm (it carries a field only Ptm writes: <c>pre_layer_norm</c>,
    /// <c>share_layers</c> or <c>embedding_size</c>) rather than by Hugging Face, whose weights need their names
    /// and orientation mapped (<see cref="HfCheckpoint"/>).
    /// </summary>
    public static bool IsPtmFolder(string dir)
    {
        var root = JsonFiles.ReadObject(Path.Combine(dir, ConfigFile));
        return HfConfig.PtmOnlyFields.Any(f => root.TryGetProperty(f, out _));
    }

    /// <summary>Loads a GPT from a model folder, or from a run folder's latest checkpoint, in eval mode.</summary>
    public static (Gpt Model, ITokenizer Tokenizer) LoadGpt(string path) => Checkpoints.LoadResolved(path, dir => LoadGptFrom(dir));

    static (Gpt Model, ITokenizer Tokenizer) LoadGptFrom(string path)
    {
        string dir = ResolveFamily(path, ModelFamily.Gpt2);
        var config = GptConfig.Load(Path.Combine(dir, ConfigFile));
        var tokenizer = LoadTokenizer(dir, config.VocabSize);
        var model = new Gpt(config);
        try { LoadWeights(model, Path.Combine(dir, WeightsFile)); }
        catch { model.Dispose(); throw; }
        model.eval();
        return (model, tokenizer);
    }

    /// <summary>Loads a BERT (with its pre-training heads) and its WordPiece tokenizer, in eval mode.</summary>
    public static (BertForPreTraining Model, WordPieceTokenizer Tokenizer) LoadBert(string path) => Checkpoints.LoadResolved(path, dir => LoadBertFrom(dir));

    static (BertForPreTraining Model, WordPieceTokenizer Tokenizer) LoadBertFrom(string path)
    {
        string dir = ResolveFamily(path, ModelFamily.Bert);
        var config = BertConfig.Load(Path.Combine(dir, ConfigFile));
        var tokenizer = LoadWordPiece(dir, config.VocabSize);
        var model = new BertForPreTraining(config);
        try { LoadWeights(model, Path.Combine(dir, WeightsFile)); }
        catch { model.Dispose(); throw; }
        model.eval();
        return (model, tokenizer);
    }

    /// <summary>
    /// Loads an encoder–decoder model and its byte-level BPE tokenizer from a model folder (ours, or Hugging Face's
    /// BART / mBART layout: the tensor names are the same, mapped as <see cref="HfCheckpoint.LoadBart"/> does) or a run
    /// folder's latest checkpoint, in eval mode.
    /// </summary>
    public static (BartForConditionalGeneration Model, ByteLevelBpeTokenizer Tokenizer) LoadBart(string path)
    {
        string dir = ResolveFamily(path, ModelFamily.Bart);
        var tokenizer = LoadTokenizer(dir, int.MaxValue) as ByteLevelBpeTokenizer
            ?? throw new InvalidInputException($"{dir}: an encoder-decoder model needs byte-level BPE tokenizer files (vocab.json + merges.txt or tokenizer.json)");
        var (model, config, _) = HfCheckpoint.LoadBart(dir);
        if (tokenizer.VocabSize > config.Bart!.VocabSize)
        {
            model.Dispose();
            throw new InvalidInputException($"{dir}: tokenizer has {tokenizer.VocabSize} tokens but config.json vocab_size is {config.Bart.VocabSize}");
        }
        return (model, tokenizer);
    }

    static string ResolveFamily(string path, ModelFamily family)
    {
        string dir = Checkpoints.ResolveModelDirectory(path);
        var actual = Family(dir);
        if (actual != family)
            throw new InvalidInputException($"{Path.Combine(dir, ConfigFile)}: model_type is \"{actual.ModelType}\", but a \"{family.ModelType}\" model was expected");
        return dir;
    }

    /// <summary>The folder's WordPiece tokenizer, checked to fit a BERT's vocabulary.</summary>
    internal static WordPieceTokenizer LoadWordPiece(string dir, int modelVocabSize) =>
        LoadTokenizer(dir, modelVocabSize) as WordPieceTokenizer
            ?? throw new InvalidInputException($"{dir}: a BERT model needs a WordPiece vocabulary (vocab.txt or tokenizer.json)");

    /// <summary>The folder's tokenizer, checked to fit the model's vocabulary.</summary>
    internal static ITokenizer LoadTokenizer(string dir, int modelVocabSize)
    {
        var tokenizer = TokenizerFiles.Load(dir);
        if (tokenizer.VocabSize > modelVocabSize)
            throw new InvalidInputException($"{dir}: tokenizer has {tokenizer.VocabSize} tokens but config.json vocab_size is {modelVocabSize}");
        return tokenizer;
    }

    /// <summary>Copies every tensor of the file into the model; a missing, unexpected or mis-shaped tensor is an error naming it.</summary>
    public static void LoadWeights(nn.Module model, string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file");
        using var file = SafeTensorsFile.Open(path);
        var target = model.state_dict();
        var missing = target.Keys.Where(k => !file.Names.Contains(k)).ToList();
        if (missing.Count > 0) throw new InvalidInputException($"{path}: missing tensor(s) {string.Join(", ", missing.Take(5))}{(missing.Count > 5 ? ", ..." : "")}");
        var unexpected = file.Names.Where(n => !target.ContainsKey(n)).ToList();
        if (unexpected.Count > 0) throw new InvalidInputException($"{path}: unexpected tensor(s) {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}");
        foreach (var (name, dest) in target)
        {
            long[] shape = file.GetInfo(name).Shape;
            if (!shape.SequenceEqual(dest.shape))
                throw new InvalidInputException($"{path}: tensor '{name}' has shape [{string.Join(", ", shape)}] but the model expects [{string.Join(", ", dest.shape)}]");
        }
        // Every tensor is validated before the first is copied, so a bad file never leaves a half-loaded model.
        using var _ = no_grad();
        foreach (var (name, dest) in target)
        {
            using var src = file.Load(name, dest.dtype);
            dest.copy_(src);
        }
    }
}

