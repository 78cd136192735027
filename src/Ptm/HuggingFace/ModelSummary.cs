using Ptm.IO;
using Ptm.Tokenization;
using Ptm.Training;

namespace Ptm.HuggingFace;

/// <summary>A summary of a model folder, ours or Hugging Face's, read from its headers only (no tensor is loaded).</summary>
public sealed record ModelSummary(
    string ModelType, IReadOnlyList<string> Architectures, long ParameterCount, int TensorCount,
    IReadOnlyDictionary<string, int> TensorsByDType, string WeightsFile,
    string? TokenizerKind, int? TokenizerVocabSize, IReadOnlyList<string> SpecialTokens)
{
    /// <summary>Summarises the model folder <paramref name="dir"/> (ours or Hugging Face's) from its headers, without loading tensors.</summary>
    public static ModelSummary Read(string dir)
    {
        if (!Directory.Exists(dir)) throw new InvalidInputException($"{dir}: no such folder");
        var root = JsonFiles.ReadObject(Path.Combine(dir, ModelFolder.ConfigFile));
        string modelType = ModelFolder.ModelType(dir);
        var family = ModelFolder.Family(dir);
        var architectures = root.TryGetProperty("architectures", out var a) && a.ValueKind == System.Text.Json.JsonValueKind.Array
            ? a.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [];
        using var weights = HfWeightSource.Open(dir);
        var names = weights.Names.ToHashSet(StringComparer.Ordinal);
        // Parameters only: tied copies and saved buffers are left out, so HF's and our folders count the same.
        long parameters = 0;
        foreach (string name in weights.Names)
        {
            HfKeyTarget target = family switch
            {
                ModelFamily.Gpt2 => HfKeyMap.Gpt(name, AnyKey),
                ModelFamily.Bart => name == HfKeyMap.BartFinalLogitsBias ? new HfKeyTarget.Ignored() : HfKeyMap.Bart(name, AnyKey, names), // a buffer
                _ => HfKeyMap.Bert(name, AnyKey, names),
            };
            if (target is HfKeyTarget.Parameter) parameters += weights.GetInfo(name).ElementCount;
        }
        var byDType = weights.Names.GroupBy(n => weights.GetInfo(n).DType).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count());

        string? kind = null;
        int? vocab = null;
        IReadOnlyList<string> specials = [];
        bool hasTokenizer = new[] { "vocab.json", "encoder.json", "vocab.txt", "tokenizer.json", CharTokenizer.FileName }
            .Any(f => File.Exists(Path.Combine(dir, f)));
        if (hasTokenizer)
        {
            var tokenizer = TokenizerFiles.Load(dir);
            kind = tokenizer.Kind;
            vocab = tokenizer.VocabSize;
            specials = tokenizer switch
            {
                ByteLevelBpeTokenizer bpe => bpe.SpecialTokens,
                WordPieceTokenizer => WordPieceTokenizer.RequiredSpecialTokens,
                _ => [],
            };
        }
        return new ModelSummary(modelType, architectures, parameters, weights.Names.Count, byDType,
            Path.GetFileName(weights.Path), kind, vocab, specials);
    }

    /// <summary>Lets the key maps classify names without a model at hand: every mapped key counts as one of ours.</summary>
    static bool AnyKey(string key) => true;
}
