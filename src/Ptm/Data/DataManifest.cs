using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Data;

/// <summary>Describes a prepared data folder; written last by <see cref="Preparer"/>, so its presence means the folder is complete.</summary>
/// <param name="FormatVersion">Bumped when the layout of the folder or of this file changes incompatibly.</param>
/// <param name="Dtype">Element type of the .bin files: "uint16" or "int32", little-endian, no header.</param>
/// <param name="Tokenizer">The tokenizer the ids belong to and the files it was saved as.</param>
/// <param name="Source">Where the corpus text came from and how validation was held out.</param>
/// <param name="Splits">Per split name ("train", "validation"): its file and statistics.</param>
public sealed record DataManifest(
    int FormatVersion,
    string Dtype,
    TokenizerInfo Tokenizer,
    SourceInfo Source,
    IReadOnlyDictionary<string, SplitInfo> Splits)
{
    /// <summary>Name of the manifest inside a data folder (GPT and BERT alike).</summary>
    public const string FileName = "manifest.json";
    /// <summary>The <c>formatVersion</c> this code writes and the only one <see cref="Load"/> accepts.</summary>
    public const int CurrentFormatVersion = 1;
    /// <summary><see cref="Dtype"/> of 2-byte little-endian ids, for vocabularies of at most 65536.</summary>
    public const string UInt16 = "uint16";
    /// <summary><see cref="Dtype"/> of 4-byte little-endian ids, for larger vocabularies.</summary>
    public const string Int32 = "int32";

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        // The manifest is read by people and tools, never embedded in HTML; keep '+' and non-ASCII paths legible.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Bytes per token in the .bin files.</summary>
    [JsonIgnore]
    public int TokenSize => DtypeSize(Dtype) ?? throw new InvalidOperationException($"unknown dtype '{Dtype}'");

    /// <summary>The narrowest dtype that holds every id of a vocabulary of this size.</summary>
    public static string DtypeFor(int vocabSize) => vocabSize <= 65536 ? UInt16 : Int32;

    /// <summary>Bytes per id of <paramref name="dtype"/> (2 or 4), or null for an unknown dtype.</summary>
    public static int? DtypeSize(string dtype) => dtype switch { UInt16 => 2, Int32 => 4, _ => null };

    /// <summary>The manifest as indented camel-case JSON, ending in a newline.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json) + "\n";

    /// <summary>Writes <see cref="FileName"/> into <paramref name="directory"/> atomically.</summary>
    public void Save(string directory) => AtomicFile.WriteAllText(Path.Combine(directory, FileName), ToJson());

    /// <summary>Reads and checks <c>manifest.json</c> in <paramref name="directory"/>.</summary>
    public static DataManifest Load(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new InvalidInputException($"{path}: no such file (is {directory} a prepared data folder, written by Preparer?)");
        DataManifest? manifest;
        string text = File.ReadAllText(path);
        JsonFiles.CheckSurrogateEscapes(text.AsSpan(), path);
        try { manifest = JsonSerializer.Deserialize<DataManifest>(text, Json); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: not a valid data manifest ({e.Message})", e); }
        if (manifest is null) throw new InvalidInputException($"{path}: not a valid data manifest (null)");
        if (manifest.FormatVersion != CurrentFormatVersion)
            throw new InvalidInputException($"{path}: format version {manifest.FormatVersion} is not supported (expected {CurrentFormatVersion})");
        if (DtypeSize(manifest.Dtype) is null)
            throw new InvalidInputException($"{path}: dtype '{manifest.Dtype}' is not supported (expected {UInt16} or {Int32})");
        foreach (var (name, split) in manifest.Splits)
            if (split.Tokens < 0 || split.File.Length == 0 || Path.GetFileName(split.File) != split.File)
                throw new InvalidInputException($"{path}: split '{name}' has an invalid file name or token count");
        return manifest;
    }
}

/// <summary>The tokenizer of a prepared folder, as recorded in its manifest.</summary>
/// <param name="Kind">The tokenizer's <see cref="Ptm.Tokenization.ITokenizer.Kind"/>, e.g. "char" or "bpe".</param>
/// <param name="VocabSize">Number of ids.</param>
/// <param name="EndOfTextId">The id joined between documents; null for a tokenizer without one (char).</param>
/// <param name="Files">The files the tokenizer saved next to the manifest.</param>
public sealed record TokenizerInfo(string Kind, int VocabSize, int? EndOfTextId, IReadOnlyList<string> Files);

/// <summary>Where a prepared folder's text came from, as recorded in its manifest.</summary>
/// <param name="Train">The corpus spec (file, folder or glob) the training text was read from.</param>
/// <param name="Validation">The spec of the validation text; null when it was held out of <paramref name="Train"/>.</param>
/// <param name="ValidationFraction">Null when validation text came from its own spec.</param>
/// <param name="Seed">Null when validation text came from its own spec.</param>
public sealed record SourceInfo(string Train, string? Validation, double? ValidationFraction, ulong? Seed);

/// <summary>One split of a prepared folder, as recorded in its manifest.</summary>
/// <param name="File">The split's token file, relative to the manifest's folder.</param>
/// <param name="Tokens">Token count, including the end-of-text tokens between documents.</param>
/// <param name="SourceBytes">UTF-8 bytes of the document texts that were tokenized (separators excluded): the
/// denominator of bits per byte.</param>
/// <param name="Documents">Number of documents joined into the split.</param>
public sealed record SplitInfo(string File, long Tokens, long SourceBytes, int Documents);
