using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>
/// The safetensors dtype names Ptm reads and writes, with their torch types and element sizes.
/// Names follow the safetensors format description (https://github.com/huggingface/safetensors, "Format").
/// </summary>
public static class SafeTensorsDType
{
    static readonly (string Name, ScalarType Type, int Size)[] Table =
    [
        ("F64", ScalarType.Float64, 8),
        ("F32", ScalarType.Float32, 4),
        ("F16", ScalarType.Float16, 2),
        ("BF16", ScalarType.BFloat16, 2),
        ("I64", ScalarType.Int64, 8),
        ("I32", ScalarType.Int32, 4),
        ("I16", ScalarType.Int16, 2),
        ("I8", ScalarType.Int8, 1),
        ("U8", ScalarType.Byte, 1),
        ("BOOL", ScalarType.Bool, 1),
    ];

    /// <summary>The dtype names accepted in a header, in a fixed order.</summary>
    public static IReadOnlyList<string> Supported { get; } = Table.Select(e => e.Name).ToArray();

    /// <summary>The torch type and element size for a header dtype name (case-sensitive, as the format requires).</summary>
    public static bool TryParse(string name, out ScalarType type, out int elementSize)
    {
        foreach (var e in Table)
        {
            if (string.Equals(e.Name, name, StringComparison.Ordinal))
            {
                type = e.Type;
                elementSize = e.Size;
                return true;
            }
        }
        type = default;
        elementSize = 0;
        return false;
    }

    /// <summary>The header dtype name for a torch type, or false where the format (or Ptm) has none.</summary>
    public static bool TryGetName(ScalarType type, out string name, out int elementSize)
    {
        foreach (var e in Table)
        {
            if (e.Type == type)
            {
                name = e.Name;
                elementSize = e.Size;
                return true;
            }
        }
        name = "";
        elementSize = 0;
        return false;
    }
}

/// <summary>One tensor's entry in a safetensors header. <see cref="DataBegin"/>/<see cref="DataEnd"/> are
/// byte offsets into the data buffer that follows the header.</summary>
public sealed record SafeTensorInfo(string Name, string DType, ScalarType ScalarType, long[] Shape, long DataBegin, long DataEnd)
{
    /// <summary>DataEnd - DataBegin.</summary>
    public long ByteLength => DataEnd - DataBegin;
    /// <summary>The product of the shape (1 for a scalar).</summary>
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}
