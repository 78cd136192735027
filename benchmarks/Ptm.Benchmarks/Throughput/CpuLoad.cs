using System.Diagnostics;

namespace Ptm.Benchmarks.Throughput;

/// <summary>How busy the other processes kept the CPUs while a case ran.</summary>
/// <param name="Case">The case (as in <see cref="ThroughputRunner.CaseNames"/>).</param>
/// <param name="OtherCpus">CPU time of every other process (all CPUs' busy time from /proc/stat minus this process's
/// utime + stime), divided by the case's wall time: 0 on a quiet machine, 1 when another process took a whole core.</param>
public sealed record CaseContention(string Case, bool MklCpuFix, double WallSeconds, double OtherCpus);

/// <summary>
/// Reads /proc/stat and /proc/self/stat to tell how much CPU other processes used over an interval. This is how the
/// harness sees interference, e.g. the <c>dotnet run</c> host, which keeps a core busy for several seconds after it
/// starts the program (see benchmarks/results/2026-11-27-performance-notes.md, "The MKL puzzle"). Linux only; elsewhere the figures are NaN.
/// </summary>
public sealed class CpuLoad
{
    /// <summary>USER_HZ: the unit of /proc/stat and /proc/self/stat times on Linux.</summary>
    const double TicksPerSecond = 100.0;

    readonly long busyStart, selfStart;
    readonly Stopwatch clock = Stopwatch.StartNew();

    CpuLoad(long busy, long self)
    {
        busyStart = busy;
        selfStart = self;
    }

    public static CpuLoad Start() => new(SystemBusyTicks(), SelfTicks());

    /// <summary>Average number of CPUs other processes kept busy since <see cref="Start"/>.</summary>
    public double OtherCpus()
    {
        double seconds = clock.Elapsed.TotalSeconds;
        long busy = SystemBusyTicks(), self = SelfTicks();
        if (busy < 0 || self < 0 || busyStart < 0 || selfStart < 0 || seconds <= 0) return double.NaN;
        return Math.Max(0, (busy - busyStart) - (self - selfStart)) / TicksPerSecond / seconds;
    }

    public double Seconds => clock.Elapsed.TotalSeconds;

    /// <summary>
    /// Waits until other processes use at most <paramref name="threshold"/> CPUs over a one-second window, for at
    /// most <paramref name="maxSeconds"/>; returns the load of the last window (so the caller can say it did not settle).
    /// </summary>
    public static double WaitForQuiet(double threshold, double maxSeconds, Action<string> log)
    {
        var total = Stopwatch.StartNew();
        double load = double.NaN;
        bool said = false;
        while (true)
        {
            var window = Start();
            Thread.Sleep(1000);
            load = window.OtherCpus();
            if (!double.IsFinite(load) || load <= threshold) return load;
            if (total.Elapsed.TotalSeconds >= maxSeconds)
            {
                log($"  machine still busy after {maxSeconds:F0} s (other processes use {load:F2} CPUs); measuring anyway");
                return load;
            }
            if (!said) log($"  waiting for a quiet machine: other processes use {load:F2} CPUs (at most {threshold:F2} wanted, waiting up to {maxSeconds:F0} s) ...");
            said = true;
        }
    }

    /// <summary>user + nice + system + irq + softirq + steal over all CPUs (the first line of /proc/stat).</summary>
    static long SystemBusyTicks()
    {
        try
        {
            using var reader = new StreamReader("/proc/stat");
            string? line = reader.ReadLine();
            if (line is null || !line.StartsWith("cpu ", StringComparison.Ordinal)) return -1;
            string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
            long[] v = f.Skip(1).Take(8).Select(long.Parse).ToArray();
            return v.Length < 8 ? -1 : v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return -1;
        }
    }

    /// <summary>utime + stime of this process (all its threads), fields 14 and 15 of /proc/self/stat.</summary>
    static long SelfTicks()
    {
        try
        {
            string stat = File.ReadAllText("/proc/self/stat");
            // The command name (field 2) may contain spaces; the fields after its closing parenthesis are fixed.
            string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(f[11]) + long.Parse(f[12]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return -1;
        }
    }
}
