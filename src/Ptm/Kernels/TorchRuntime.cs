using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ptm.Kernels;

/// <summary>
/// Prepares the native side before the first torch call: the libstdc++ shim that lets TorchSharp's library
/// load on Debian 12 (see docs/native-loading.md) and the MKL CPU-vendor fix, both loaded with RTLD_GLOBAL
/// so the dynamic loader finds their symbols before libtorch's own. Loading the library changes nothing else in the
/// process: glibc's malloc is tuned only when the host asks (<see cref="TuneMallocForTraining"/>; the ptm command does).
/// </summary>
public static class TorchRuntime
{
    const int RtldNow = 0x2;
    const int RtldGlobal = 0x100;
    static readonly object Gate = new();
    static bool initialized;

    /// <summary>Whether the MKL CPU-vendor fix was loaded (PTM_MKL_CPU_FIX=0 turns it off).</summary>
    public static bool MklCpuFixLoaded { get; private set; }

    /// <summary>
    /// Whether <see cref="TuneMallocForTraining"/> told glibc's malloc to serve every block from its heap and never
    /// give freed memory back (mallopt M_MMAP_MAX = 0, M_TRIM_THRESHOLD = max). libtorch allocates
    /// each tensor with malloc, and by default every block above 32 MiB (logits, the embedding's gradient, optimizer
    /// temporaries) is a fresh mmap, so each training step page-faults and zeroes those pages again: about 15% of
    /// GPT-2-small's step (docs/performance.md). With the tuning, freed blocks stay in the heap for the next step; the cost is
    /// that the resident size stays at its high-water mark.
    /// </summary>
    public static bool MallocTuned { get; private set; }

    /// <summary>Whether the libstdc++ shim was loaded (only built where the system libstdc++ is too old).</summary>
    public static bool GlibcxxShimLoaded { get; private set; }

    /// <summary>The folder the build places TorchSharp's natives and our shims in.</summary>
    public static string NativeDirectory => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");

#pragma warning disable CA2255 // A library module initializer is the point: no Ptm type may touch torch before this runs.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void InitializeOnLoad() => EnsureInitialized();

    /// <summary>
    /// Loads the native shims once per process; later calls return at once, and it is thread-safe. The library's
    /// module initializer calls it before any Ptm type runs, so only a host that calls TorchSharp before touching a Ptm
    /// type needs to call it first. Off Linux it does nothing.
    /// </summary>
    public static void EnsureInitialized()
    {
        lock (Gate)
        {
            if (initialized) return;
            initialized = true;
            if (!OperatingSystem.IsLinux()) return;
            GlibcxxShimLoaded = TryLoadGlobal("libptm_glibcxx_shim.so");
            if (Environment.GetEnvironmentVariable("PTM_MKL_CPU_FIX") != "0")
                MklCpuFixLoaded = TryLoadGlobal("libptm_mkl_cpu.so");
        }
    }

    /// <summary>
    /// Tunes glibc's malloc for training (see <see cref="MallocTuned"/>): a process-wide setting, so only a host that
    /// owns the process calls it, once at start-up before torch allocates (the ptm command and the benchmark harness
    /// do). It trades a resident size held at its high-water mark for fewer page faults per step. Does nothing and
    /// returns false when PTM_MALLOC_TUNING=0, off Linux, or without glibc; returns whether the settings are applied.
    /// </summary>
    public static bool TuneMallocForTraining()
    {
        lock (Gate)
        {
            if (!MallocTuned && OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("PTM_MALLOC_TUNING") != "0")
                MallocTuned = TuneMalloc();
            return MallocTuned;
        }
    }

    static bool TryLoadGlobal(string fileName)
    {
        string path = Path.Combine(NativeDirectory, fileName);
        if (!File.Exists(path)) return false;
        return dlopen(path, RtldNow | RtldGlobal) != IntPtr.Zero;
    }

    static bool TuneMalloc()
    {
        // glibc only (mallopt returns 1 on success); musl and others lack mallopt or ignore it.
        try
        {
            return mallopt(MMmapMax, 0) == 1 && mallopt(MTrimThreshold, int.MaxValue) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    const int MTrimThreshold = -1;  // <malloc.h>: M_TRIM_THRESHOLD
    const int MMmapMax = -4;        // <malloc.h>: M_MMAP_MAX

    [DllImport("libc.so.6")]
    static extern int mallopt(int param, int value);

    [DllImport("libdl.so.2", CharSet = CharSet.Ansi)]
    static extern IntPtr dlopen(string fileName, int flags);
}
