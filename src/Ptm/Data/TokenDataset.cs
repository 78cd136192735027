using System.Buffers.Binary;

namespace Ptm.Data;

/// <summary>
/// One split of a prepared folder, memory-mapped read-only: the OS pages tokens in on demand and shares them between
/// processes, so a corpus larger than RAM still trains. Reads are thread-safe; dispose when done.
/// </summary>
public sealed unsafe class TokenDataset : IDisposable
{
    readonly MappedFile mapped;
    readonly byte* data;
    readonly int tokenSize;
    bool disposed;

    /// <summary>The prepared folder the split was opened from.</summary>
    public string Directory { get; }
    /// <summary>Split name, "train" or "validation".</summary>
    public string Split { get; }
    /// <summary>The split's .bin file.</summary>
    public string Path { get; }
    /// <summary>The folder's manifest: dtype, tokenizer and split statistics.</summary>
    public DataManifest Manifest { get; }
    /// <summary>Number of tokens.</summary>
    public long Length { get; }

    TokenDataset(string directory, string split, string path, DataManifest manifest, long length)
    {
        Directory = directory;
        Split = split;
        Path = path;
        Manifest = manifest;
        Length = length;
        tokenSize = manifest.TokenSize;
        mapped = new MappedFile(path, length);
        data = mapped.Pointer;
    }

    /// <summary>Opens <paramref name="split"/> ("train" or "validation") of the folder <paramref name="directory"/>.</summary>
    public static TokenDataset Open(string directory, string split)
    {
        DataManifest manifest = DataManifest.Load(directory);
        long tokens = manifest.Splits.TryGetValue(split, out SplitInfo? info) ? info.Tokens : 0;
        string path = MappedFile.SplitPath(directory, manifest.Splits, split, i => i.File, tokens, manifest.TokenSize,
            $"tokens × {manifest.TokenSize} bytes of {manifest.Dtype}");
        return new TokenDataset(directory, split, path, manifest, tokens);
    }

    /// <summary>The token id at <paramref name="index"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside [0, Length).</exception>
    /// <exception cref="ObjectDisposedException">The dataset is disposed.</exception>
    public long this[long index]
    {
        get
        {
            Span<long> one = stackalloc long[1];
            Read(index, one);
            return one[0];
        }
    }

    /// <summary>Copies tokens [start, start + destination.Length) into <paramref name="destination"/>.</summary>
    public void Read(long start, Span<long> destination)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (start < 0 || start > Length - destination.Length)
            throw new ArgumentOutOfRangeException(nameof(start),
                $"window [{start}, {start + destination.Length}) is outside the {Split} split's {Length} tokens");
        if (destination.IsEmpty) return;
        byte* from = data + start * tokenSize;
        if (tokenSize == 2)
        {
            var source = new ReadOnlySpan<ushort>(from, destination.Length);
            for (int i = 0; i < source.Length; i++)
                destination[i] = BitConverter.IsLittleEndian ? source[i] : BinaryPrimitives.ReverseEndianness(source[i]);
        }
        else
        {
            var source = new ReadOnlySpan<int>(from, destination.Length);
            for (int i = 0; i < source.Length; i++)
                destination[i] = BitConverter.IsLittleEndian ? source[i] : BinaryPrimitives.ReverseEndianness(source[i]);
        }
    }

    /// <summary>Tokens [start, start + count) in a new array.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The window is not inside [0, Length).</exception>
    /// <exception cref="ObjectDisposedException">The dataset is disposed.</exception>
    public long[] Read(long start, int count)
    {
        var result = new long[count];
        Read(start, result);
        return result;
    }

    /// <summary>Unmaps the file; later reads throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        mapped.Dispose();
    }
}
