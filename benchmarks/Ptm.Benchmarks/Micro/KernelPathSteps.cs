using System.Diagnostics;
using Ptm.Kernels;
using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Micro;

/// <summary>
/// Training steps of the default GPT (configs/gpt-kjv.json's shape: 4 layers, 256 wide, 4 heads, vocab 2048, batch
/// 16 × 128; forward, loss, backward, gradient clipping, AdamW) on several kernel paths in one process, alternating
/// the paths round by round (A B, then B A) so that a machine shared with other work slows each path alike; reports
/// each path's median step time, wall-clock and process CPU time (steadier than wall time on a shared machine at one
/// thread, where no OpenMP thread spins), and their ratios to the last path named (usually <c>off</c>).
/// </summary>
public static class KernelPathSteps
{
    /// <summary>Runs <c>kernel-steps [--paths avx2,off] [--rounds N] [--steps K] [--threads N]</c>; writes one line per path.</summary>
    public static int Run(string[] args, Action<string> log)
    {
        string paths = "avx512,avx2,portable,off";
        int rounds = 10, steps = 3;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--paths": paths = args[i + 1]; break;
                case "--rounds": rounds = int.Parse(args[i + 1]); break;
                case "--steps": steps = int.Parse(args[i + 1]); break;
                case "--threads": set_num_threads(int.Parse(args[i + 1])); break;
                default: throw new InvalidInputException($"kernel-steps: unknown option {args[i]}");
            }
        }
        var order = paths.Split(',').Select(Parse).ToArray();
        foreach (var p in order)
            if (!FusedKernels.CanRun(p)) throw new InvalidInputException($"kernel-steps: {FusedKernels.Name(p)}: {FusedKernels.WhyNot(p)}");

        const int B = 16, T = 128, Vocab = 2048;
        manual_seed(0);
        using var model = new Gpt(new GptConfig { VocabSize = Vocab, NPositions = T, NEmbd = 256, NLayer = 4, NHead = 4, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 });
        model.train();
        using var optimizer = optim.AdamW(model.parameters(), 1e-3, 0.9, 0.99, 1e-8, 0.1);
        using var ids = randint(0, Vocab, [B, T + 1], dtype: ScalarType.Int64);
        using var x = ids.narrow(1, 0, T).contiguous();
        using var y = ids.narrow(1, 1, T).contiguous();

        var process = Process.GetCurrentProcess();
        (double Wall, double Cpu) Step()
        {
            process.Refresh();
            var cpu0 = process.TotalProcessorTime;
            var watch = Stopwatch.StartNew();
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                var loss = Gpt.Loss(model.forward(x), y);
                loss.backward();
                nn.utils.clip_grad_norm_(model.parameters(), 1.0);
                optimizer.step();
            }
            double wall = watch.Elapsed.TotalMilliseconds;
            process.Refresh();
            return (wall, (process.TotalProcessorTime - cpu0).TotalMilliseconds);
        }

        log($"kernel-steps: threads {get_num_threads()}, CPU {CpuFeatures.Describe()}, ATEN_CPU_CAPABILITY={Environment.GetEnvironmentVariable("ATEN_CPU_CAPABILITY") ?? "(unset)"}, {rounds} rounds × {steps} steps per path");
        var times = order.ToDictionary(p => p, _ => new List<double>());
        var cpuTimes = order.ToDictionary(p => p, _ => new List<double>());
        foreach (var p in order)
        {
            FusedKernels.Path = p;
            for (int i = 0; i < 3; i++) Step();                            // warm-up: JIT, allocator, OpenMP pool
        }
        for (int r = 0; r < rounds; r++)
        {
            var roundOrder = r % 2 == 0 ? order : order.Reverse().ToArray();
            foreach (var p in roundOrder)
            {
                FusedKernels.Path = p;
                for (int i = 0; i < steps; i++)
                {
                    var (wall, cpu) = Step();
                    times[p].Add(wall);
                    cpuTimes[p].Add(cpu);
                }
            }
        }
        double reference = Median(times[order[^1]]), cpuReference = Median(cpuTimes[order[^1]]);
        foreach (var p in order)
        {
            double m = Median(times[p]), c = Median(cpuTimes[p]);
            log($"  {FusedKernels.Name(p),-8} wall median {m,7:F1} ms (p25 {Percentile(times[p], 0.25):F1}, p75 {Percentile(times[p], 0.75):F1}) ×{reference / m:F3}"
                + $"  | CPU median {c,7:F1} ms (p25 {Percentile(cpuTimes[p], 0.25):F1}, p75 {Percentile(cpuTimes[p], 0.75):F1}) ×{cpuReference / c:F3}  vs {FusedKernels.Name(order[^1])}");
        }
        return 0;
    }

    static KernelPath Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "avx512" => KernelPath.Avx512,
        "avx2" => KernelPath.Avx2,
        "portable" => KernelPath.Portable,
        "off" => KernelPath.Off,
        _ => throw new InvalidInputException($"kernel-steps: path '{name}' is not one of avx512, avx2, portable, off"),
    };

    static double Median(List<double> v) => Percentile(v, 0.5);

    static double Percentile(List<double> v, double q)
    {
        var s = v.OrderBy(t => t).ToArray();
        double pos = q * (s.Length - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return s[lo] + (s[hi] - s[lo]) * (pos - lo);
    }
}
