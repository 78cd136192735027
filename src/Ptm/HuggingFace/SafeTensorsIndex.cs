using System.Text.Json;
using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>
/// A sharded safetensors checkpoint described by a Hugging Face style index (model.safetensors.index.json):
/// {"metadata": {...}, "weight_map": {"tensor name": "model-00001-of-00002.safetensors", ...}}.
/// The index is validated when opened (shard files must exist inside the index's folder); shards are mapped
/// lazily, the first time one of their tensors is asked for, and kept open until <see cref="Dispose"/>.
/// </summary>
public sealed class SafeTensorsIndex : IDisposable
{
    const long MaxIndexBytes = 100_000_000;

    readonly Dictionary<string, string> shardOf; // tensor name → full shard path
    readonly Dictionary<string, string> shardNameOf; // full shard path → name as written in the index
    readonly Dictionary<string, SafeTensorsFile> open = new(StringComparer.Ordinal);
    readonly string[] names;
    readonly object gate = new();
    bool disposed;

    /// <summary>The index path as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>Tensor names from the weight map, sorted ordinally.</summary>
    public IReadOnlyList<string> Names => names;

    /// <summary>Full paths of the distinct shard files, sorted ordinally.</summary>
    public IReadOnlyList<string> ShardPaths { get; }

    /// <summary>The index's "metadata" object: string values as they are, other values as their JSON text
    /// (e.g. "total_size" → "123456").</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafeTensorsIndex(string path, Dictionary<string, string> shardOf, Dictionary<string, string> shardNameOf, Dictionary<string, string> metadata)
    {
        Path = path;
        this.shardOf = shardOf;
        this.shardNameOf = shardNameOf;
        names = shardOf.Keys.Order(StringComparer.Ordinal).ToArray();
        ShardPaths = shardNameOf.Keys.Order(StringComparer.Ordinal).ToArray();
        Metadata = metadata;
    }

    /// <summary>Reads and validates the index; throws <see cref="InvalidInputException"/> on any problem.</summary>
    public static SafeTensorsIndex Open(string indexJsonPath)
    {
        ArgumentNullException.ThrowIfNull(indexJsonPath);
        string path = indexJsonPath;
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw Fail(path, "file not found");
            if (info.Length > MaxIndexBytes) throw Fail(path, $"index is {info.Length} bytes, over the {MaxIndexBytes}-byte limit");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Fail(path, $"cannot read file: {SafeTensorsFile.Clean(ex.Message.ReplaceLineEndings(" "))}");
        }

        // The parser checks UTF-8 only when a string is read (then throwing InvalidOperationException): check it first.
        if (!System.Text.Unicode.Utf8.IsValid(bytes))
            throw Fail(path, "not valid UTF-8");
        IO.JsonFiles.CheckSurrogateEscapes<byte>(bytes, path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes);
        }
        catch (JsonException ex)
        {
            throw Fail(path, $"not valid JSON: {SafeTensorsFile.Clean(ex.Message.ReplaceLineEndings(" "))}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(path, "index must be a JSON object with a \"weight_map\"");

            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out var meta) && meta.ValueKind != JsonValueKind.Null)
            {
                if (meta.ValueKind != JsonValueKind.Object) throw Fail(path, "\"metadata\" must be an object");
                foreach (var p in meta.EnumerateObject())
                    metadata[p.Name] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
            }

            if (!root.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw Fail(path, "index has no \"weight_map\" object");

            string folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
            string folderPrefix = System.IO.Path.EndsInDirectorySeparator(folder) ? folder : folder + System.IO.Path.DirectorySeparatorChar;
            var shardOf = new Dictionary<string, string>(StringComparer.Ordinal);
            var shardNameOf = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in map.EnumerateObject())
            {
                string name = entry.Name;
                if (entry.Value.ValueKind != JsonValueKind.String || entry.Value.GetString() is not { Length: > 0 } shard)
                    throw Fail(path, "weight_map values must be shard file names", name);
                if (shardOf.ContainsKey(name))
                    throw Fail(path, "weight_map lists the tensor twice", name);
                if (System.IO.Path.IsPathRooted(shard))
                    throw Fail(path, $"shard '{SafeTensorsFile.Clean(shard)}' must be a path relative to the index's folder", name);
                string full = System.IO.Path.GetFullPath(System.IO.Path.Combine(folder, shard));
                if (!full.StartsWith(folderPrefix, StringComparison.Ordinal))
                    throw Fail(path, $"shard '{SafeTensorsFile.Clean(shard)}' lies outside the index's folder", name);
                if (!shardNameOf.ContainsKey(full))
                {
                    if (!File.Exists(full))
                        throw Fail(path, $"shard file '{SafeTensorsFile.Clean(shard)}' does not exist (looked for {full})", name);
                    shardNameOf.Add(full, shard);
                }
                shardOf.Add(name, full);
            }
            return new SafeTensorsIndex(path, shardOf, shardNameOf, metadata);
        }
    }

    /// <summary>Whether the weight map lists <paramref name="name"/>.</summary>
    public bool Contains(string name) => shardOf.ContainsKey(name);

    /// <summary>Full path of the shard that holds <paramref name="name"/>, according to the index.</summary>
    public string GetShardPath(string name) => ShardFor(name);

    /// <summary>The header entry for <paramref name="name"/> in its shard (maps the shard if needed).</summary>
    public SafeTensorInfo GetInfo(string name) => OpenShardContaining(name).GetInfo(name);

    /// <summary>Loads <paramref name="name"/> from its shard, optionally converted (see <see cref="SafeTensorsFile.Load"/>).</summary>
    public Tensor Load(string name, ScalarType? convertTo = null) => OpenShardContaining(name).Load(name, convertTo);

    /// <summary>Loads every tensor in the weight map; on failure, tensors already created are disposed.</summary>
    public Dictionary<string, Tensor> LoadAll(ScalarType? convertTo = null) =>
        SafeTensorsFile.LoadAllOrNone(names, name => Load(name, convertTo));

    /// <summary>Unmaps every shard opened so far; tensors already loaded are copies and stay valid.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            foreach (var file in open.Values) file.Dispose();
            open.Clear();
        }
    }

    string ShardFor(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!shardOf.TryGetValue(name, out var shard))
            throw Fail(Path, "weight_map has no such tensor", name);
        return shard;
    }

    SafeTensorsFile OpenShardContaining(string name)
    {
        string shard = ShardFor(name);
        SafeTensorsFile file;
        lock (gate)
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            if (!open.TryGetValue(shard, out file!))
            {
                file = SafeTensorsFile.Open(shard);
                open.Add(shard, file);
            }
        }
        if (!file.Contains(name))
            throw Fail(Path, $"weight_map puts the tensor in '{SafeTensorsFile.Clean(shardNameOf[shard])}', which does not contain it", name);
        return file;
    }

    static InvalidInputException Fail(string path, string what, string? tensor = null) => SafeTensorsFile.Fail(path, what, tensor);
}
