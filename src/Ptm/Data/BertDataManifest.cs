using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Data;

/// <summary>
/// <c>manifest.json</c> of a BERT pre-training folder (written last, so its presence means the folder is complete).
/// <see cref="Objective"/> tells it apart from a GPT folder's <see cref="DataManifest"/>.
/// </summary>
/// <param name="FormatVersion">Layout version of the folder and this file; see <see cref="CurrentFormatVersion"/>.</param>
/// <param name="Objective">"mlm-nsp", "mlm-sop" or "mlm"; see <see cref="ObjectiveFor"/>.</param>
/// <param name="Dtype">Id type inside the records: "uint16" or "int32".</param>
/// <param name="RecordSize">Bytes per instance record (see <see cref="BertInstanceRecord"/>).</param>
/// <param name="MaskSlots">Stored mask entries per record: MaxPredictionsPerSeq under static masking, else 0.</param>
/// <param name="Vocabulary">The vocabulary the ids belong to and the files it was saved as.</param>
/// <param name="Source">Where the corpus text came from and how validation was held out.</param>
/// <param name="Options">The options the instances were built with.</param>
/// <param name="Splits">Per split name ("train", "validation"): its file and statistics.</param>
public sealed record BertDataManifest(
    int FormatVersion,
    string Objective,
    string Dtype,
    int RecordSize,
    int MaskSlots,
    BertVocabularyInfo Vocabulary,
    SourceInfo Source,
    BertDataOptions Options,
    IReadOnlyDictionary<string, BertSplitInfo> Splits)
{
    /// <summary>The <c>formatVersion</c> this code writes and the only one <see cref="Load"/> accepts.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>"mlm-nsp", "mlm-sop" or "mlm" (packed): the objective the data was prepared for.</summary>
    public static string ObjectiveFor(PairTask task) => task switch { PairTask.Nsp => "mlm-nsp", PairTask.Sop => "mlm-sop", _ => "mlm" };

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>The fixed-size record layout implied by the options, mask slots and dtype.</summary>
    /// <exception cref="InvalidOperationException"><see cref="Dtype"/> is not "uint16" or "int32".</exception>
    [JsonIgnore]
    internal BertInstanceRecord Record => new(Options.MaxSeqLength, MaskSlots, DataManifest.DtypeSize(Dtype) ?? throw new InvalidOperationException($"unknown dtype '{Dtype}'"));

    /// <summary>The manifest as indented camel-case JSON, ending in a newline.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    /// <summary>Writes <c>manifest.json</c> into <paramref name="directory"/> atomically.</summary>
    public void Save(string directory) => AtomicFile.WriteAllText(Path.Combine(directory, DataManifest.FileName), ToJson());

    /// <summary>Reads and checks <c>manifest.json</c> in <paramref name="directory"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing, not a BERT manifest, of another format version or dtype, or inconsistent with its options or split entries.</exception>
    public static BertDataManifest Load(string directory)
    {
        string path = Path.Combine(directory, DataManifest.FileName);
        if (!File.Exists(path))
            throw new InvalidInputException($"{path}: no such file (is {directory} a folder of BERT pre-training instances, prepared for objective mlm-nsp, mlm-sop or mlm?)");
        BertDataManifest? manifest;
        string text = File.ReadAllText(path);
        JsonFiles.CheckSurrogateEscapes(text.AsSpan(), path);
        try { manifest = JsonSerializer.Deserialize<BertDataManifest>(text, Json); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: not a BERT pre-training manifest ({e.Message})", e); }
        if (manifest is null) throw new InvalidInputException($"{path}: not a BERT pre-training manifest (null)");
        if (manifest.FormatVersion != CurrentFormatVersion)
            throw new InvalidInputException($"{path}: format version {manifest.FormatVersion} is not supported (expected {CurrentFormatVersion})");
        if (DataManifest.DtypeSize(manifest.Dtype) is null)
            throw new InvalidInputException($"{path}: dtype '{manifest.Dtype}' is not supported");
        // The record layout is computed from these; out-of-range values would overflow it or the mask count byte.
        manifest.Options.Validate();
        if (manifest.MaskSlots is < 0 or > byte.MaxValue)
            throw new InvalidInputException($"{path}: maskSlots {manifest.MaskSlots} is outside [0, {byte.MaxValue}]");
        if (manifest.Record.Size != manifest.RecordSize)
            throw new InvalidInputException($"{path}: record size {manifest.RecordSize} does not match the options (expected {manifest.Record.Size})");
        foreach (var (name, split) in manifest.Splits)
            if (split.Instances < 0 || split.File.Length == 0 || Path.GetFileName(split.File) != split.File)
                throw new InvalidInputException($"{path}: split '{name}' has an invalid file name or instance count");
        return manifest;
    }
}

/// <summary>The vocabulary of a BERT data folder, as recorded in its manifest.</summary>
/// <param name="Kind">The vocabulary's <see cref="IMaskingVocabulary.Kind"/>, e.g. "wordpiece".</param>
/// <param name="VocabSize">Number of ids.</param>
/// <param name="PadId">Id of [PAD].</param>
/// <param name="ClsId">Id of [CLS].</param>
/// <param name="SepId">Id of [SEP].</param>
/// <param name="MaskId">Id of [MASK].</param>
/// <param name="Files">The tokenizer files saved next to the manifest.</param>
public sealed record BertVocabularyInfo(string Kind, int VocabSize, int PadId, int ClsId, int SepId, int MaskId, IReadOnlyList<string> Files);

/// <summary>One split of a BERT data folder, as recorded in its manifest.</summary>
/// <param name="File">The split's <c>*.bert.bin</c> file, relative to the manifest's folder.</param>
/// <param name="Instances">Number of instance records in the file.</param>
/// <param name="Documents">Non-empty documents (those with at least one non-empty sentence).</param>
/// <param name="SingleSentenceDocuments">Of those, documents with exactly one sentence (see <see cref="BertPretrainingInstances"/>).</param>
/// <param name="Sentences">Non-empty sentences over all non-empty documents.</param>
/// <param name="Tokens">Real tokens over all instances, specials included, padding excluded.</param>
/// <param name="PairLabel0">Instances with pair label 0 (NSP: actual next; SOP: in order).</param>
/// <param name="PairLabel1">Instances with pair label 1 (NSP: random next; SOP: swapped).</param>
/// <param name="MaskedPositions">Static mask entries over all instances (0 under dynamic masking).</param>
public sealed record BertSplitInfo(string File, long Instances, int Documents, int SingleSentenceDocuments, long Sentences,
    long Tokens, long PairLabel0, long PairLabel1, long MaskedPositions);
