using System.Runtime.InteropServices;

namespace Ptm.IO;

/// <summary>
/// Makes a file-size limit (<c>ulimit -f</c>) an ordinary write error. By default the kernel kills a process with
/// SIGXFSZ when a write passes the limit, leaving a partial file and no message; with the signal ignored the write
/// fails with EFBIG instead, which <see cref="AtomicFile"/> and the checkpoint writer turn into a one-line
/// <see cref="StorageException"/> after removing what they had written. .NET's PosixSignalRegistration cannot
/// handle SIGXFSZ, hence libc's <c>signal</c>.
/// </summary>
public static class FileSizeSignal
{
    static int done;

    /// <summary>Sets SIGXFSZ to be ignored for this process (once; later calls do nothing). Does nothing on Windows,
    /// which has no such signal.</summary>
    public static void Ignore()
    {
        if (Interlocked.Exchange(ref done, 1) == 1) return;
        if (OperatingSystem.IsWindows()) return;
        const int SIGXFSZ = 25; // the same number on Linux, macOS and the BSDs
        // libc is loaded into every .NET process on Unix; its symbols resolve through the main program's handle.
        if (!NativeLibrary.TryGetExport(NativeLibrary.GetMainProgramHandle(), "signal", out nint signal)) return;
        unsafe { ((delegate* unmanaged<int, nint, nint>)signal)(SIGXFSZ, 1 /* SIG_IGN */); }
    }
}
