using System.Diagnostics;
using System.Globalization;
using Ptm.Distributed;

namespace Ptm.Benchmarks.Distributed;

/// <summary>
/// `Ptm.Benchmarks allreduce`, run under mpirun: checks every collective of <see cref="MpiProcessGroup"/> against
/// sums known in closed form (--verify), then times in-place float32 all-reduce at sizes up to a GPT-2-small gradient
/// (124M floats) and prints the bus bandwidth, 2(N−1)/N · bytes / time, the figure a ring all-reduce is limited by.
/// </summary>
public static class AllReduceBenchmark
{
    /// <summary>Floats in GPT-2 small's gradient (124,439,808 parameters, tied embeddings counted once).</summary>
    public const long Gpt2SmallParameters = 124_439_808;

    public static int Run(string[] args)
    {
        bool verify = args.Contains("--verify");
        bool timing = !args.Contains("--no-timing");
        int rounds = Option(args, "--rounds", 5);
        using var group = MpiProcessGroup.Start();
        if (verify) Verify(group);
        if (timing) Time(group, rounds);
        return 0;
    }

    static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    static void Say(IProcessGroup group, string line)
    {
        if (group.Rank == 0) Console.WriteLine(line);
    }

    /// <summary>Each rank contributes values depending on its rank; every rank checks the closed-form sums.</summary>
    static void Verify(IProcessGroup group)
    {
        int n = group.Size, r = group.Rank;
        long triangle = (long)n * (n - 1) / 2; // Σ r
        var floats = Enumerable.Range(0, 1000).Select(i => (float)(i + r)).ToArray();
        group.AllReduceSum(floats);
        Check(group, "float32", floats.Select((v, i) => v == (float)((long)i * n + triangle)).All(x => x));

        var doubles = Enumerable.Range(0, 1000).Select(i => 0.5 * i + r).ToArray();
        group.AllReduceSum(doubles);
        Check(group, "float64", doubles.Select((v, i) => v == 0.5 * i * n + triangle).All(x => x));

        long[] longs = [1L << 40, r, -r];
        group.AllReduceSum(longs);
        Check(group, "int64", longs[0] == n * (1L << 40) && longs[1] == triangle && longs[2] == -triangle);

        // bfloat16: small integers are exact, so the sum is too.
        var bf16 = Enumerable.Range(0, 64).Select(i => BFloat16Bits(i + r)).ToArray();
        group.AllReduceSumBFloat16(bf16);
        Check(group, "bfloat16", bf16.Select((v, i) => BitConverter.Int32BitsToSingle(v << 16) == (float)((long)i * n + triangle)).All(x => x));

        var bytes = new byte[257];
        if (r == 0) for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i * 7);
        group.Broadcast(bytes, root: 0);
        Check(group, "broadcast", bytes.Select((b, i) => b == (byte)(i * 7)).All(x => x));

        group.Barrier();
        Say(group, $"verified on {n} ranks: float32, float64, int64, bfloat16 sums, broadcast, barrier");
    }

    static ushort BFloat16Bits(float value) => (ushort)(BitConverter.SingleToInt32Bits(value) >> 16); // exact for small integers

    static void Check(IProcessGroup group, string what, bool ok)
    {
        long[] failures = [ok ? 0 : 1];
        group.AllReduceSum(failures);
        if (failures[0] != 0) throw new InvalidOperationException($"{what} all-reduce gave wrong sums on {failures[0]} rank(s)");
    }

    static void Time(IProcessGroup group, int rounds)
    {
        int n = group.Size;
        Say(group, $"float32 all-reduce on {n} ranks (median of {rounds}):");
        Say(group, "| floats | MB | time (ms) | bus bandwidth (GB/s) |");
        Say(group, "|---:|---:|---:|---:|");
        foreach (long count in new long[] { 1 << 10, 1 << 16, 1 << 20, 1 << 22, 25L << 18, Gpt2SmallParameters })
        {
            var buffer = new float[count];
            buffer.AsSpan().Fill(1f);
            group.AllReduceSum(buffer); // warm-up: pages touched, connections made
            var times = new List<double>();
            for (int i = 0; i < rounds; i++)
            {
                group.Barrier();
                var clock = Stopwatch.StartNew();
                group.AllReduceSum(buffer);
                times.Add(clock.Elapsed.TotalSeconds);
            }
            double[] slowest = [times.Order().ElementAt(times.Count / 2)];
            group.AllReduceSum(slowest); // the group waits for its slowest rank; report the mean of the ranks' medians
            double seconds = slowest[0] / n;
            double bytes = count * 4.0;
            double bus = n > 1 ? 2.0 * (n - 1) / n * bytes / seconds / 1e9 : double.NaN;
            Say(group, FormattableString.Invariant($"| {count:N0} | {bytes / 1e6:F1} | {seconds * 1e3:F3} | {bus:F2} |"));
        }
    }
}
