namespace Ptm.IO;

/// <summary>
/// A write to disk failed for a reason outside the input: no space left, a file-size or quota limit, a read-only or
/// failing device. The message is one line naming the file or folder and the reason; what was being written was
/// removed (nothing half-written remains) and earlier files, such as the previous checkpoint, are untouched.
/// </summary>
public sealed class StorageException : IOException
{
    /// <summary>A failed write to <paramref name="path"/>, explained from <paramref name="inner"/>.</summary>
    /// <param name="path">the file or folder being written</param>
    /// <param name="what">what it holds, e.g. "checkpoint" (may be empty)</param>
    /// <param name="inner">the I/O error the write met</param>
    public StorageException(string path, string what, Exception inner)
        : base($"{path}: cannot write{(what.Length > 0 ? " " + what : "")}: {Reason(inner)}", inner) => Path = path;

    /// <summary>The file or folder whose write failed.</summary>
    public string Path { get; }

    // On Unix .NET reports the errno as the HResult of a plain IOException.
    const int EIO = 5, EACCES = 13, EFBIG = 27, ENOSPC = 28, EROFS = 30, EDQUOT = 122;

    /// <summary>The reason in words, with the errno name where it is one of the usual write failures.</summary>
    public static string Reason(Exception e) => e is ArgumentOutOfRangeException ? Reason(new IOException(e.Message, EFBIG)) : e.HResult switch
    {
        ENOSPC => "no space left on device (ENOSPC); free space, then resume",
        EFBIG => "file too large for the file-size limit (EFBIG, see ulimit -f)",
        EDQUOT => "disk quota exceeded (EDQUOT)",
        EROFS => "read-only file system (EROFS)",
        EIO => "input/output error (EIO)",
        EACCES => "permission denied (EACCES)",
        _ => Ptm.IO.JsonFiles.FirstLine(e.Message),
    };

    /// <summary>Runs <paramref name="write"/>; an <see cref="IOException"/> it raises (other than a
    /// <see cref="StorageException"/> already) becomes one naming <paramref name="path"/>.</summary>
    public static void Guard(string path, string what, Action write)
    {
        try { write(); }
        catch (Exception e) when (IsWriteFailure(e)) { throw new StorageException(path, what, e); }
    }

    /// <summary>Whether <paramref name="e"/> is a failed write to disk: an <see cref="IOException"/> (other than a
    /// <see cref="StorageException"/>), or the <see cref="ArgumentOutOfRangeException"/> that .NET's file streams
    /// raise for EFBIG ("Specified file length was too large for the file system").</summary>
    public static bool IsWriteFailure(Exception e) =>
        e is IOException and not StorageException
        || e is ArgumentOutOfRangeException { ParamName: "value" } a && a.TargetSite?.DeclaringType?.Namespace?.StartsWith("System.IO", StringComparison.Ordinal) == true;
}
