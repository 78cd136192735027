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
