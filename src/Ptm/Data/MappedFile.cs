using System.IO.MemoryMappedFiles;

namespace Ptm.Data;

/// <summary>A whole file mapped read-only, exposed as a pointer for the lifetime of the object.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile? file;
    readonly MemoryMappedViewAccessor? view;

    /// <summary>Maps <paramref name="path"/>; an empty file cannot be mapped and gives a null pointer.</summary>
    public MappedFile(string path, long length)
    {
        if (length == 0) return;
        try
        {
            file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            view = file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            Pointer = pointer + view.PointerOffset;
        }
        catch
        {
            view?.Dispose();
            file?.Dispose();
            throw;
        }
    }

    public byte* Pointer { get; }

    /// <summary>
    /// The file of <paramref name="split"/> named in a manifest, checked to exist and to have exactly
    /// <paramref name="count"/> records of <paramref name="recordBytes"/> bytes; <paramref name="unit"/> says what a
    /// record is in the error message ("tokens × 2 bytes of uint16").
    /// </summary>
    public static string SplitPath<TSplit>(string directory, IReadOnlyDictionary<string, TSplit> splits, string split,
        Func<TSplit, string> file, long count, long recordBytes, string unit)
    {
        string manifestPath = System.IO.Path.Combine(directory, DataManifest.FileName);
        if (!splits.TryGetValue(split, out TSplit? info))
            throw new InvalidInputException($"{manifestPath}: has no split '{split}' (it has: {string.Join(", ", splits.Keys)})");
        string path = System.IO.Path.Combine(directory, file(info));
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file (listed in {manifestPath})");
        long actual = new FileInfo(path).Length;
        // count and recordBytes come from the manifest: a hostile count must not wrap the product round to the
        // file's real size (the mapping would then be read far past its end).
        if (recordBytes <= 0 || count < 0 || count > long.MaxValue / recordBytes)
            throw new InvalidInputException($"{path}: {count} {unit} (per {manifestPath}) is not a possible size (the file has {actual} bytes)");
        long expected = count * recordBytes;
        if (actual != expected)
            throw new InvalidInputException($"{path}: expected {expected} bytes ({count} {unit}, per {manifestPath}) but the file has {actual} bytes");
        return path;
    }

    public void Dispose()
    {
        if (view is not null)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
        }
        file?.Dispose();
    }
}
