namespace Ptm.Benchmarks.Throughput;

/// <summary>Resident-memory figures of this process from /proc/self/status (Linux only; 0 elsewhere).</summary>
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
