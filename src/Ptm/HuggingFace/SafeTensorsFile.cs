using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text.Json;
using System.Text.Unicode;
using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>
/// A safetensors file opened for reading: memory-mapped read-only, with its header parsed and checked up front.
/// Layout (https://github.com/huggingface/safetensors, "Format"): 8-byte little-endian header length N, N bytes of
/// UTF-8 JSON mapping tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the
/// data buffer after the header) plus an optional "__metadata__" string→string object, then the data buffer.
/// Every problem with the file is reported as an <see cref="InvalidInputException"/> whose one-line message starts
/// with the path and names the tensor concerned.
/// </summary>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted; a bigger length prefix means a corrupt file or some other format.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly MemoryMappedFile map;
    readonly MemoryMappedViewAccessor view;
    readonly Dictionary<string, SafeTensorInfo> infos;
    readonly string[] names;
    byte* data; // start of the data buffer; null once disposed

    /// <summary>The path as given to <see cref="Open"/>.</summary>
    public string Path { get; }

    /// <summary>Length of the JSON header in bytes (padding included), as stored in the 8-byte prefix.</summary>
    public long HeaderLength { get; }

    /// <summary>Length of the data buffer that follows the header.</summary>
    public long DataLength { get; }

    /// <summary>Tensor names, sorted ordinally.</summary>
    public IReadOnlyList<string> Names => names;

    /// <summary>The "__metadata__" entries; empty when the file has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    SafeTensorsFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* data, long headerLength, long dataLength,
        Dictionary<string, SafeTensorInfo> infos, Dictionary<string, string> metadata)
    {
        Path = path;
        this.map = map;
        this.view = view;
        this.data = data;
        HeaderLength = headerLength;
        DataLength = dataLength;
        this.infos = infos;
        names = infos.Keys.Order(StringComparer.Ordinal).ToArray();
        Metadata = metadata;
    }

    /// <summary>Maps <paramref name="path"/> and validates its header; throws <see cref="InvalidInputException"/> on any problem.</summary>
    public static SafeTensorsFile Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Fail(path, "file not found");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Fail(path, $"cannot open file: {OneLine(ex.Message)}");
        }

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        bool pointerAcquired = false;
        try
        {
            long fileLength = stream.Length;
            Span<byte> prefix = stackalloc byte[16];
            int prefixLength = (int)Math.Min(fileLength, prefix.Length);
            stream.ReadExactly(prefix[..prefixLength]);
            prefix = prefix[..prefixLength];
            ulong declared = fileLength >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(prefix) : 0;
            // A torch.save file can start with bytes that also read as a (huge) length; only call it a pickle when
            // the bytes do not describe a plausible safetensors header.
            bool plausible = fileLength > 8 && declared <= (ulong)(fileLength - 8) && prefix[8] == (byte)'{';
            if (!plausible && PyTorchCheckpointKind(prefix) is { } kind)
                throw Fail(path,
                    $"this is a PyTorch {kind} checkpoint (torch.save, e.g. pytorch_model.bin), not safetensors; convert it with " +
                    "python -c \"import torch; from safetensors.torch import save_file; " +
                    "sd = torch.load('pytorch_model.bin', map_location='cpu', weights_only=True); " +
                    "save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\" " +
                    "or Hugging Face's safetensors convert.py script");
            if (fileLength < 8)
                throw Fail(path, $"file is {fileLength} bytes, shorter than the 8-byte header length that starts a safetensors file");
            if (declared > MaxHeaderBytes)
                throw Fail(path, $"header length {declared} bytes is over the {MaxHeaderBytes}-byte limit (corrupt file or not safetensors)");
            if (declared > (ulong)(fileLength - 8))
                throw Fail(path, $"header length {declared} bytes exceeds the {fileLength - 8} bytes that follow the length prefix (truncated or not safetensors)");
            long headerLength = (long)declared;
            long dataLength = fileLength - 8 - headerLength;

            map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* basePointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref basePointer);
            pointerAcquired = true;
            basePointer += view.PointerOffset;

            var header = new ReadOnlySpan<byte>(basePointer + 8, (int)headerLength);
            var (infos, metadata) = ParseHeader(path, header, dataLength);
            return new SafeTensorsFile(path, map, view, basePointer + 8 + headerLength, headerLength, dataLength, infos, metadata);
        }
        catch
        {
            if (pointerAcquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Whether the file holds a tensor called <paramref name="name"/>.</summary>
    public bool Contains(string name)
    {
        ObjectDisposedException.ThrowIf(data == null, this);
        return infos.ContainsKey(name);
    }

    /// <summary>The header entry for <paramref name="name"/> (dtype name, shape, offsets).</summary>
    public SafeTensorInfo GetInfo(string name)
    {
        var info = Find(name);
        return info with { Shape = (long[])info.Shape.Clone() };
    }

    /// <summary>
    /// Creates a CPU tensor holding a copy of <paramref name="name"/>'s bytes, converted to
    /// <paramref name="convertTo"/> when given and different from the stored dtype.
    /// </summary>
    public Tensor Load(string name, ScalarType? convertTo = null)
    {
        var info = Find(name);
        Tensor t = empty(info.Shape, info.ScalarType);
        try
        {
            nint source = (nint)(data + info.DataBegin);
            long copied = 0;
            TensorBytes.ForEachSlice(t, target =>
            {
                var bytes = new ReadOnlySpan<byte>((byte*)source + copied, target.Length);
                if (info.ScalarType == ScalarType.Bool && bytes.IndexOfAnyExceptInRange((byte)0, (byte)1) >= 0)
                    throw Fail(Path, "BOOL data holds bytes other than 0 and 1", info.Name);
                bytes.CopyTo(target);
                copied += target.Length;
            });
            if (convertTo is { } type && type != info.ScalarType)
            {
                Tensor converted = t.to_type(type);
                t.Dispose();
                t = converted;
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>Loads every tensor (see <see cref="Load"/>); on failure, tensors already created are disposed.</summary>
    public Dictionary<string, Tensor> LoadAll(ScalarType? convertTo = null) => LoadAllOrNone(names, name => Load(name, convertTo));

    /// <summary>Loads each name; if one fails, the tensors already created are disposed before rethrowing.</summary>
    internal static Dictionary<string, Tensor> LoadAllOrNone(IEnumerable<string> names, Func<string, Tensor> load)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (string name in names)
                result.Add(name, load(name));
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Unmaps the file; tensors already loaded are copies and stay valid.</summary>
    public void Dispose()
    {
        if (data == null) return;
        data = null;
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        map.Dispose();
    }

    SafeTensorInfo Find(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ObjectDisposedException.ThrowIf(data == null, this);
        if (!infos.TryGetValue(name, out var info))
            throw Fail(Path, $"no such tensor among the file's {infos.Count}", name);
        return info;
    }

    static (Dictionary<string, SafeTensorInfo>, Dictionary<string, string>) ParseHeader(string path, ReadOnlySpan<byte> header, long dataLength)
    {
        if (!Utf8.IsValid(header))
            throw Fail(path, "header is not valid UTF-8");
        IO.JsonFiles.CheckSurrogateEscapes(header, path);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header.ToArray(), new JsonDocumentOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException ex)
        {
            throw Fail(path, $"header is not valid JSON: {OneLine(ex.Message)}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw Fail(path, $"header must be a JSON object, found {Describe(root.ValueKind)}");

            var infos = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool sawMetadata = false;
            foreach (var property in root.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    if (sawMetadata) throw Fail(path, "header has '__metadata__' twice");
                    sawMetadata = true;
                    ParseMetadata(path, property.Value, metadata);
                    continue;
                }
                if (infos.ContainsKey(property.Name))
                    throw Fail(path, "header lists the tensor twice", property.Name);
                infos.Add(property.Name, ParseEntry(path, property.Name, property.Value, dataLength));
            }
            CheckLayout(path, infos.Values, dataLength);
            return (infos, metadata);
        }
    }

    static void ParseMetadata(string path, JsonElement element, Dictionary<string, string> metadata)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Fail(path, $"'__metadata__' must be an object of strings, found {Describe(element.ValueKind)}");
        foreach (var entry in element.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw Fail(path, $"'__metadata__' value for key '{Clean(entry.Name)}' must be a string, found {Describe(entry.Value.ValueKind)}");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw Fail(path, $"'__metadata__' has key '{Clean(entry.Name)}' twice");
        }
    }

    static SafeTensorInfo ParseEntry(string path, string name, JsonElement element, long dataLength)
    {
        if (element.ValueKind != JsonValueKind.Object)
            throw Fail(path, $"entry must be an object with dtype, shape and data_offsets, found {Describe(element.ValueKind)}", name);
        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in element.EnumerateObject())
        {
            ref JsonElement? slot = ref dtypeElement;
            switch (field.Name)
            {
                case "dtype": slot = ref dtypeElement; break;
                case "shape": slot = ref shapeElement; break;
                case "data_offsets": slot = ref offsetsElement; break;
                default: throw Fail(path, $"entry has unexpected field '{Clean(field.Name)}'", name);
            }
            if (slot is not null) throw Fail(path, $"entry has field '{field.Name}' twice", name);
            slot = field.Value;
        }
        if (dtypeElement is not { } dtypeValue) throw Fail(path, "entry has no 'dtype'", name);
        if (shapeElement is not { } shapeValue) throw Fail(path, "entry has no 'shape'", name);
        if (offsetsElement is not { } offsetsValue) throw Fail(path, "entry has no 'data_offsets'", name);

        if (dtypeValue.ValueKind != JsonValueKind.String)
            throw Fail(path, $"'dtype' must be a string, found {Describe(dtypeValue.ValueKind)}", name);
        string dtype = dtypeValue.GetString()!;
        if (!SafeTensorsDType.TryParse(dtype, out var scalarType, out int elementSize))
            throw Fail(path, $"unknown or unsupported dtype '{Clean(dtype)}' (supported: {string.Join(", ", SafeTensorsDType.Supported)})", name);

        long[] shape = ReadIntegers(path, name, "shape", shapeValue, "non-negative integers");
        long[] offsets = ReadIntegers(path, name, "data_offsets", offsetsValue, "two non-negative integers [begin, end]");
        if (offsets.Length != 2)
            throw Fail(path, $"'data_offsets' must be two non-negative integers [begin, end], found {offsets.Length} numbers", name);
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
            throw Fail(path, $"data_offsets [{begin}, {end}] end before they begin", name);

        long expected = elementSize;
        foreach (long d in shape)
        {
            if (d != 0 && expected > long.MaxValue / d)
                throw Fail(path, $"shape [{string.Join(", ", shape)}] is too large", name);
            expected *= d;
        }
        if (end - begin != expected)
            throw Fail(path, $"data_offsets [{begin}, {end}] span {end - begin} bytes but shape [{string.Join(", ", shape)}] of {dtype} needs {expected}", name);
        if (end > dataLength)
            throw Fail(path, $"data_offsets [{begin}, {end}] are out of bounds of the {dataLength}-byte data buffer (truncated file?)", name);
        return new SafeTensorInfo(name, dtype, scalarType, shape, begin, end);
    }

    static long[] ReadIntegers(string path, string name, string field, JsonElement element, string expected)
    {
        if (element.ValueKind != JsonValueKind.Array)
            throw Fail(path, $"'{field}' must be an array of {expected}, found {Describe(element.ValueKind)}", name);
        var values = new long[element.GetArrayLength()];
        int i = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long value) || value < 0)
                throw Fail(path, $"'{field}' must be an array of {expected}, found {Clean(item.GetRawText())}", name);
            values[i++] = value;
        }
        return values;
    }

    /// <summary>The format requires the tensors to cover the data buffer exactly: no overlaps, holes or trailing bytes.</summary>
    static void CheckLayout(string path, IEnumerable<SafeTensorInfo> infos, long dataLength)
    {
        long position = 0;
        SafeTensorInfo? previous = null;
        foreach (var info in infos.OrderBy(i => i.DataBegin).ThenBy(i => i.DataEnd).ThenBy(i => i.Name, StringComparer.Ordinal))
        {
            if (info.DataBegin < position)
                throw Fail(path, $"data_offsets [{info.DataBegin}, {info.DataEnd}] overlap those of tensor '{Clean(previous!.Name)}' [{previous.DataBegin}, {previous.DataEnd}]", info.Name);
            if (info.DataBegin > position)
                throw Fail(path, $"data buffer bytes [{position}, {info.DataBegin}) belong to no tensor (holes are not allowed)", info.Name);
            position = info.DataEnd;
            if (info.DataEnd > info.DataBegin) previous = info;
            else previous ??= info;
        }
        if (position != dataLength)
            throw Fail(path, $"data buffer has {dataLength - position} trailing bytes after the last tensor's data");
    }

    static string? PyTorchCheckpointKind(ReadOnlySpan<byte> prefix)
    {
        if (prefix.Length >= 4 && prefix[0] == (byte)'P' && prefix[1] == (byte)'K' && prefix[2] == 3 && prefix[3] == 4)
            return "zip";
        if (prefix.Length >= 2 && prefix[0] == 0x80 && prefix[1] is >= 2 and <= 5)
            return "pickle";
        return null;
    }

    static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString(),
    };

    internal static InvalidInputException Fail(string path, string what, string? tensor = null) =>
        new(tensor is null ? $"{path}: {what}" : $"{path}: {what} (tensor '{Clean(tensor)}')");

    /// <summary>Keeps messages on one line and short even for hostile names.</summary>
    internal static string Clean(string text)
    {
        if (text.Length > 200) text = text[..200] + "…";
        return string.Create(text.Length, text, (span, s) =>
        {
            for (int i = 0; i < s.Length; i++) span[i] = char.IsControl(s[i]) ? '?' : s[i];
        });
    }

    static string OneLine(string text) => Clean(text.ReplaceLineEndings(" "));
}
