using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>
/// ELECTRA's discriminator in Hugging Face's <c>ElectraForPreTraining</c> layout. Our ELECTRA tensor names are HF's
/// (<c>electra.embeddings.*</c>, <c>electra.encoder.layer.N.*</c>, <c>discriminator_predictions.{dense,dense_prediction}</c>),
/// so export keeps the discriminator's tensors of a checkpoint's <see cref="ElectraObjective.ElectraWeightsFile"/>
/// and drops what HF's class has no place for: the generator (<c>generator.*</c>, HF's separate ElectraForMaskedLM)
/// and BERT's pooler (<c>electra.pooler.*</c>, which the RTD loss never trains). A factorised embedding
/// (<c>embedding_size</c> below <c>hidden_size</c>) is projected by <c>electra.embeddings_project</c> in HF and
/// <c>electra.encoder.embedding_hidden_mapping_in</c> here.
/// </summary>
public static class HfElectra
{
    /// <summary>HF's architecture name for the discriminator with its replaced-token head.</summary>
    public const string Architecture = "ElectraForPreTraining";

    const string OurProjection = "electra.encoder.embedding_hidden_mapping_in.";
    const string HfProjection = "electra.embeddings_project.";

    /// <summary>Whether <paramref name="modelDir"/> (a model folder) is an ELECTRA checkpoint: it holds <see cref="ElectraObjective.ElectraWeightsFile"/>.</summary>
    public static bool IsElectraFolder(string modelDir) => File.Exists(Path.Combine(modelDir, ElectraObjective.ElectraWeightsFile));

    /// <summary>HF's name for one of our tensor names; null for a tensor HF's ElectraForPreTraining does not have.</summary>
    public static string? HfName(string ours) =>
        ours.StartsWith("generator.", StringComparison.Ordinal) || ours.StartsWith("electra.pooler.", StringComparison.Ordinal) ? null
        : ours.StartsWith(OurProjection, StringComparison.Ordinal) ? HfProjection + ours[OurProjection.Length..]
        : ours;

    /// <summary>Our name for an HF ElectraForPreTraining tensor name.</summary>
    public static string OurName(string hf) =>
        hf.StartsWith(HfProjection, StringComparison.Ordinal) ? OurProjection + hf[HfProjection.Length..] : hf;

    /// <summary>
    /// Writes the discriminator of an ELECTRA checkpoint folder (config.json, <see cref="ElectraObjective.ElectraWeightsFile"/>,
    /// tokenizer files) to <paramref name="to"/> as an HF ElectraForPreTraining folder: model.safetensors, config.json
    /// (<c>model_type</c> "electra", <c>embedding_size</c>), vocab.txt, tokenizer.json, tokenizer_config.json,
    /// special_tokens_map.json. Written to a temporary folder and renamed into place.
    /// </summary>
    /// <exception cref="InvalidInputException">the folder is not an ELECTRA checkpoint, or its model shares layers or is pre-LN (no HF equivalent)</exception>
    public static void Export(string modelDir, string to)
    {
        string weights = ElectraObjective.RequireWeightsFile(modelDir);
        var config = BertConfig.Load(Path.Combine(modelDir, ModelFolder.ConfigFile));
        if (config.ShareLayers) throw new InvalidInputException($"{Path.Combine(modelDir, ModelFolder.ConfigFile)}: share_layers has no Hugging Face ELECTRA equivalent");
        if (config.PreLayerNorm) throw new InvalidInputException($"{Path.Combine(modelDir, ModelFolder.ConfigFile)}: {HfCheckpoint.PreLayerNormRefusal("ELECTRA")}");
        var tokenizer = ModelFolder.LoadWordPiece(modelDir, config.VocabSize);
        using var file = SafeTensorsFile.Open(weights);
        var json = ConfigJson(config, file.Names.Count == 0 ? "float32" : DTypeName(file.GetInfo(file.Names[0]).DType));
        StagedDirectory.Create(to, temp =>
        {
            var tensors = new List<KeyValuePair<string, Tensor>>();
            try
            {
                foreach (string name in file.Names)
                    if (HfName(name) is { } hf) tensors.Add(new(hf, file.Load(name)));
                SafeTensorsWriter.Write(Path.Combine(temp, ModelFolder.WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            }
            finally { foreach (var t in tensors) t.Value.Dispose(); }
            AtomicFile.WriteAllText(Path.Combine(temp, ModelFolder.ConfigFile), json.ToJsonString(HfCheckpoint.JsonOut) + "\n");
            HfCheckpoint.WriteWordPieceFiles(temp, tokenizer);
        });
    }

    /// <summary>HF ElectraConfig fields for a discriminator config: BERT's, with <c>model_type</c> "electra" and
    /// <c>embedding_size</c> always written (HF's default is 128, not <c>hidden_size</c>).</summary>
    public static JsonObject ConfigJson(BertConfig config, string torchDtype)
    {
        var json = HfConfig.ToHuggingFace(config, Architecture, torchDtype, null);
        json["model_type"] = "electra";
        json["embedding_size"] = config.EmbeddingWidth;
        json["position_embedding_type"] = "absolute";
        return json;
    }

    /// <summary>
    /// Reads an HF ElectraForPreTraining folder (as <see cref="Export"/> writes it) into an ELECTRA model whose
    /// discriminator (encoder and replaced-token head) holds the folder's weights; its generator, which the folder does
    /// not have, keeps its initialisation (size <paramref name="generatorSize"/>). Every discriminator tensor but the
    /// pooler must be present with the right shape, and no other tensor may be; all are checked before any is copied.
    /// </summary>
    /// <exception cref="InvalidInputException">config.json is not an ELECTRA config, or a tensor is missing, unexpected or mis-shaped</exception>
    public static (ElectraForPreTraining Model, WordPieceTokenizer Tokenizer) Load(string dir, double generatorSize = 0.25)
    {
        string configPath = Path.Combine(dir, ModelFolder.ConfigFile);
        var hf = JsonFiles.ReadObject(configPath);
        if (!hf.TryGetProperty("model_type", out var type) || type.ValueKind != JsonValueKind.String || type.GetString() != "electra")
            throw new InvalidInputException($"{configPath}: model_type must be \"electra\"");
        var fields = new JsonObject { ["model_type"] = ModelFamily.Bert.ModelType };
        foreach (string name in (string[])["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act",
                     "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "initializer_range"])
            if (hf.TryGetProperty(name, out var v)) fields[name] = JsonNode.Parse(v.GetRawText());
        int hidden = hf.TryGetProperty("hidden_size", out var h) && h.TryGetInt32(out int hv) ? hv : 256;
        int embedding = hf.TryGetProperty("embedding_size", out var e) && e.TryGetInt32(out int ev) ? ev : 128; // HF's default
        if (embedding != hidden) fields["embedding_size"] = embedding;
        var config = BertConfig.FromJson(JsonDocument.Parse(fields.ToJsonString()).RootElement, configPath);
        var tokenizer = ModelFolder.LoadWordPiece(dir, config.VocabSize);
        var model = new ElectraForPreTraining(config, generatorSize);
        try
        {
            string weights = Path.Combine(dir, ModelFolder.WeightsFile);
            if (!File.Exists(weights)) throw new InvalidInputException($"{weights}: no such file");
            using var file = SafeTensorsFile.Open(weights);
            var target = model.state_dict();
            var expected = target.Keys.Where(k => HfName(k) is not null).ToHashSet();
            var unexpected = file.Names.Where(n => !expected.Contains(OurName(n))).ToList();
            if (unexpected.Count > 0) throw new InvalidInputException($"{weights}: unexpected tensor(s) {string.Join(", ", unexpected.Take(5))}");
            var present = file.Names.Select(OurName).ToHashSet();
            var missing = expected.Where(k => !present.Contains(k)).Select(k => HfName(k)!).ToList();
            if (missing.Count > 0) throw new InvalidInputException($"{weights}: missing tensor(s) {string.Join(", ", missing.Take(5))}");
            foreach (string name in file.Names)
            {
                long[] shape = file.GetInfo(name).Shape;
                if (!shape.SequenceEqual(target[OurName(name)].shape))
                    throw new InvalidInputException($"{weights}: tensor '{name}' has shape [{string.Join(", ", shape)}] but the model expects [{string.Join(", ", target[OurName(name)].shape)}]");
            }
            using var _ = no_grad();
            foreach (string name in file.Names)
            {
                var dest = target[OurName(name)];
                using var src = file.Load(name, dest.dtype);
                dest.copy_(src);
            }
            model.eval();
            return (model, tokenizer);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }


    static string DTypeName(string safetensorsDType) => safetensorsDType.ToUpperInvariant() switch
    {
        "BF16" or "BFLOAT16" => "bfloat16",
        "F16" or "FLOAT16" => "float16",
        _ => "float32",
    };
}
