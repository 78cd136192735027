using System.Buffers;
using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ptm.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>
/// Writes the safetensors format (https://github.com/huggingface/safetensors, "Format"): an 8-byte little-endian
/// header length N, N bytes of UTF-8 JSON (padded here with spaces to a multiple of 8 so the data starts aligned),
/// then every tensor's row-major little-endian bytes, back to back with no gaps.
/// </summary>
public static class SafeTensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> (and optional string metadata) to <paramref name="path"/> through a temporary
    /// file that replaces the target only once complete. The output depends only on the names, dtypes, shapes, values
    /// and metadata: header keys are sorted ordinally, and the data is laid out by element size (largest first) then
    /// name, which keeps every tensor aligned to its element size within the buffer.
    /// Tensors may live on any device and need not be contiguous.
    /// </summary>
    /// <exception cref="ArgumentException">A duplicate or reserved name, or a dtype the format has no name for.</exception>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(tensors);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors writing assumes a little-endian machine");

        // Everything, including enumerating the caller's tensors, happens inside the atomic write: whatever fails
        // leaves the previous file as it was and removes the temporary file.
        AtomicFile.Write(path, stream =>
        {
            var entries = Plan(tensors);
            byte[] header = BuildHeader(entries, metadata);
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            foreach (var e in entries.OrderBy(e => e.Begin))
                WriteData(stream, e);
        });
    }

    sealed record Entry(string Name, Tensor Tensor, string DType, int ElementSize, long[] Shape, long Begin, long End);

    static List<Entry> Plan(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new List<(string Name, Tensor Tensor, string DType, int Size, long[] Shape, long Bytes)>();
        foreach (var (name, tensor) in tensors)
        {
            ArgumentNullException.ThrowIfNull(name, nameof(tensors));
            ArgumentNullException.ThrowIfNull(tensor, nameof(tensors));
            if (name == "__metadata__")
                throw new ArgumentException("'__metadata__' is reserved by the safetensors format and cannot name a tensor", nameof(tensors));
            if (!seen.Add(name))
                throw new ArgumentException($"duplicate tensor name '{name}'", nameof(tensors));
            if (!SafeTensorsDType.TryGetName(tensor.dtype, out string dtype, out int size))
                throw new ArgumentException(
                    $"tensor '{name}' has dtype {tensor.dtype}, which safetensors writing does not support (supported: {string.Join(", ", SafeTensorsDType.Supported)})",
                    nameof(tensors));
            long[] shape = tensor.shape;
            long bytes = checked(tensor.numel() * size);
            pending.Add((name, tensor, dtype, size, shape, bytes));
        }

        var entries = new List<Entry>(pending.Count);
        long offset = 0;
        foreach (var p in pending.OrderByDescending(p => p.Size).ThenBy(p => p.Name, StringComparer.Ordinal))
        {
            entries.Add(new Entry(p.Name, p.Tensor, p.DType, p.Size, p.Shape, offset, offset + p.Bytes));
            offset = checked(offset + p.Bytes);
        }
        return entries;
    }

    static byte[] BuildHeader(List<Entry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        // Relaxed escaping keeps non-ASCII names readable; the output is still valid JSON and fully deterministic.
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false }))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    ArgumentNullException.ThrowIfNull(value, nameof(metadata));
                    json.WriteString(key, value);
                }
                json.WriteEndObject();
            }
            foreach (var e in entries.OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                json.WriteStartObject(e.Name);
                json.WriteString("dtype", e.DType);
                json.WriteStartArray("shape");
                foreach (long d in e.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(e.Begin);
                json.WriteNumberValue(e.End);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        int padded = (buffer.WrittenCount + 7) / 8 * 8;
        byte[] header = new byte[padded];
        buffer.WrittenSpan.CopyTo(header);
        header.AsSpan(buffer.WrittenCount).Fill((byte)' ');
        return header;
    }

    static void WriteData(Stream stream, Entry e)
    {
        long expected = e.End - e.Begin;
        if (expected == 0) return;
        using var scope = NewDisposeScope();
        Tensor t = e.Tensor;
        if (t.device_type != DeviceType.CPU) t = t.cpu();
        if (!t.is_contiguous()) t = t.contiguous();
        long actual = t.numel() * t.element_size();
        if (actual != expected)
            throw new InvalidOperationException($"tensor '{e.Name}' changed size while being written ({actual} bytes, planned {expected})");
        TensorBytes.ForEachSlice(t, span => stream.Write(span));
    }
}
