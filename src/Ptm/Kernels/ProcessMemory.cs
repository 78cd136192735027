namespace Ptm.Kernels;

/// <summary>
/// Resident-memory figures of this process from /proc/self/status (Linux only; 0 elsewhere): what the operating
/// system charges the process, for benchmarks and memory checks.
/// </summary>
public static class ProcessMemory
{
    /// <summary>VmHWM: peak resident set size so far, in MiB.</summary>
    public static double PeakRssMib() => ReadKib("VmHWM:") / 1024.0;

    /// <summary>VmRSS: current resident set size, in MiB.</summary>
    public static double RssMib() => ReadKib("VmRSS:") / 1024.0;

    static long ReadKib(string field)
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return 0;
        foreach (string line in File.ReadLines(path))
        {
            if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
            string[] parts = line[field.Length..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return parts.Length > 0 && long.TryParse(parts[0], out long kib) ? kib : 0;
        }
        return 0;
    }
}

/// <summary>
/// glibc's own account of its heap (mallinfo2, glibc 2.33+): bytes handed out (libtorch's tensors and everything else
/// native) and bytes freed but kept inside the heap. Resident memory can grow while the first stays flat, when freed
/// blocks of one size cannot serve the next request of another (fragmentation): no leak, but pages the process keeps.
/// </summary>
public static class NativeHeap
{
    /// <summary>(in use, free inside the heap) in MiB; null off glibc.</summary>
    public static (double InUseMib, double FreeMib)? Read()
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            var m = mallinfo2();
            const double mib = 1024.0 * 1024.0;
            return ((m.uordblks + m.hblkhd) / mib, m.fordblks / mib);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost;
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6")]
    static extern MallInfo2 mallinfo2();
}
