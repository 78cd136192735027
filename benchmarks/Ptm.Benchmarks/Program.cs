using BenchmarkDotNet.Running;
using Ptm;
using Ptm.Benchmarks;
using Ptm.Benchmarks.Micro;
using Ptm.Benchmarks.Throughput;

const string Usage = """
    usage:
      Ptm.Benchmarks throughput [--out DIR] [--quick] [--config FILE] [--bert-config FILE | --no-bert] [--in-process] [--peer]
                                [--threads N] [--no-tokenizers] [--settle-seconds S] [--paired-rounds N] [--cpu-isa native|avx2|both]
          self-timed training / generation / matmul / tokenizer throughput; writes DIR/<date>-throughput.{json,md}
          (DIR defaults to benchmarks/results, FILE to configs/gpt-kjv.json, the BERT cases to configs/bert-kjv.json);
          --peer also runs benchmarks/peers/pytorch_peer.py (PyTorch eager, OpenBLAS) and adds a side-by-side section;
          --threads sets torch's threads in every case and the peer; the run first waits up to S seconds (default 30)
          for other processes to go quiet; --paired-rounds N (with --peer) then runs every training case N more times,
          Ptm and the peer back to back, and reports the median of the per-round ratios; --cpu-isa avx2 restricts both
          sides' children to AVX2+FMA (as on AMD Zen 3), both runs the paired rounds natively and then restricted
      Ptm.Benchmarks kernel-steps [--paths avx512,avx2,portable,off] [--rounds N] [--steps K] [--threads N]
          default GPT training steps on each kernel path (PTM_KERNELS), alternating paths in one process; medians
      mpirun -np N Ptm.Benchmarks allreduce [--verify] [--no-timing] [--rounds N]
          Open MPI collectives: --verify checks every sum against closed forms; then float32 all-reduce times and bus
          bandwidth from 4 KB to a GPT-2-small gradient (498 MB)
      Ptm.Benchmarks micro [BenchmarkDotNet arguments, e.g. --filter '*Attention*']
          BenchmarkDotNet micro-benchmarks (all of them when no --filter is given)
    """;

// Measured as the ptm command runs: with glibc's malloc tuned for training (docs/native-loading.md); the internal
// mode malloc-probe-library shows what loading the library alone does.
if (args is not ["malloc-probe-library", ..]) Ptm.Kernels.TorchRuntime.TuneMallocForTraining();

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine(Usage);
    return args.Length == 0 ? 2 : 0;
}

try
{
    switch (args[0])
    {
        case "throughput":
            return Throughput(args[1..]);
        case "throughput-case": // internal: one case in a child process
        {
            var options = ThroughputOptions.Parse(args[2..]);
            if (options.Threads > 0) TorchSharp.torch.set_num_threads(options.Threads);
            var plan = ThroughputPlan.Standard(options.ConfigPath, options.Quick, options.BertConfigPath);
            ThroughputRunner.WriteChildResult(ThroughputRunner.RunCase(plan, args[1], ThroughputRunner.ChildScope));
            return 0;
        }
        case "gc-probe": // internal: benchmarks/Ptm.Benchmarks.Tests/ThroughputHarnessTests.cs, the GC budget DOTNET_GCgen0size gives
            Console.WriteLine(GC.GetConfigurationVariables().TryGetValue("GCGen0MaxBudget", out object? budget) ? budget : "unknown");
            return 0;
        case "cpu-probe": // internal: benchmarks/Ptm.Benchmarks.Tests, what CpuFeatures sees under a --cpu-isa environment
            Console.WriteLine(Ptm.Kernels.CpuFeatures.Describe());
            return 0;
        case "malloc-probe": // internal: benchmarks/Ptm.Benchmarks.Tests/MallocTuningTests.cs
        case "malloc-probe-library":
            Console.WriteLine(MallocProbe.ToJson(MallocProbe.Run()));
            return 0;
        case "kernel-steps":
            return KernelPathSteps.Run(args[1..], Console.WriteLine);
        case "allreduce":
            return Ptm.Benchmarks.Distributed.AllReduceBenchmark.Run(args[1..]);
        case "micro":
        {
            string[] rest = args[1..];
            if (!rest.Any(a => a.StartsWith("--filter", StringComparison.Ordinal) || a == "-f" || a.StartsWith("--list", StringComparison.Ordinal)))
                rest = [.. rest, "--filter", "*"];
            var summaries = BenchmarkSwitcher.FromAssembly(typeof(AttentionBenchmarks).Assembly).Run(rest, MicroConfig.Create());
            return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
        }
        default:
            Console.Error.WriteLine($"unknown mode '{args[0]}'");
            Console.Error.WriteLine(Usage);
            return 2;
    }
}
catch (InvalidInputException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static IReadOnlyList<PairedSet> RunPaired(ThroughputPlan plan, ThroughputOptions options, int threads)
{
    string planPath = Path.Combine(Path.GetTempPath(), $"ptm-peer-plan-{Guid.NewGuid():N}.json");
    try
    {
        PeerRunner.WritePlan(plan, planPath);
        // The fused kernels serve GPT training only; its cases also run with them off, to show what they give.
        var gptCases = plan.Training.Select(t => ThroughputRunner.TrainCasePrefix + t.Name).ToHashSet();
        var sets = new List<PairedSet>();
        foreach (var isa in options.CpuIsas)
        {
            var peer = PeerRunner.Environment(threads, isa);
            var (training, skipped) = PairedRounds.TrainingCases(plan, isa);
            if (skipped is not null) Console.WriteLine($"  {skipped}");
            Console.WriteLine($"paired rounds, CPU ISA {CpuIsaEnvironment.Name(isa)}: {string.Join(", ", training)}, {options.PairedRounds} rounds ...");
            string? ptmFeatures = null;
            PeerCaseRun? lastPeer = null;
            double Ptm(string name, bool kernels)
            {
                var r = ThroughputRunner.RunChild(name, options.ChildArguments(), mklFix: true, fusedKernels: kernels, isa: isa);
                ptmFeatures ??= r.CpuFeatures;
                return r.Training.Single().TokensPerSecond;
            }
            var cases = PairedRounds.Run(training, options.PairedRounds,
                name => Ptm(name, kernels: true),
                name => (lastPeer = PeerRunner.RunTrainingCase(peer, planPath, name)).Training.TokensPerSecond,
                Console.WriteLine,
                name => Ptm(name, kernels: false),
                gptCases);
            sets.Add(new PairedSet(CpuIsaEnvironment.Name(isa), CpuIsaEnvironment.Describe(CpuIsaEnvironment.Ptm(isa)), ptmFeatures,
                CpuIsaEnvironment.Describe(CpuIsaEnvironment.Peer(isa)), lastPeer?.Blas, lastPeer?.CpuCapability,
                [.. skipped is null ? [] : new[] { skipped }, .. PeerRunner.Mismatches(peer, lastPeer?.Blas, lastPeer?.CpuCapability)], cases));
        }
        return sets;
    }
    finally
    {
        if (File.Exists(planPath)) File.Delete(planPath);
    }
}

static int Throughput(string[] args)
{
    var options = ThroughputOptions.Parse(args);
    if (options.Threads > 0) TorchSharp.torch.set_num_threads(options.Threads);
    var (plan, left) = CpuIsaEnvironment.PlanFor(ThroughputPlan.Standard(options.ConfigPath, options.Quick, options.BertConfigPath), options.CpuIsa);
    if (left is not null) Console.WriteLine(left);
    if (options.CpuIsa != CpuIsa.Native) Console.WriteLine($"CPU ISA {CpuIsaEnvironment.Name(options.CpuIsa)}: Ptm's children get {CpuIsaEnvironment.Describe(CpuIsaEnvironment.Ptm(options.CpuIsa))}");
    var report = ThroughputRunner.Run(plan, options.InProcess ? null : options.ChildArguments(), Console.WriteLine, options.SettleSeconds, options.CpuIsa);
    if (left is not null) report = report with { Machine = report.Machine with { CpuIsaNote = left } };
    if (options.Tokenizers)
    {
        Console.WriteLine("running tokenizers (this process) ...");
        report = report with { Tokenizers = TokenizerThroughput.Measure(TokenizerCase.Standard(options.Quick), Console.WriteLine) };
    }
    if (options.Peer)
    {
        var peer = PeerRunner.Run(plan, report, Console.WriteLine, options.CpuIsa);
        Console.WriteLine(peer.Available ? "  peer done" : $"  peer not run: {peer.Reason}");
        report = report with { Peer = peer };
        if (options.PairedRounds > 0 && peer.Available)
            report = report with { Paired = RunPaired(plan, options, peer.Environment!.Threads) };
    }
    var (json, markdown) = ThroughputReportWriter.Save(report, options.OutDirectory);
    Console.WriteLine();
    Console.WriteLine(ThroughputReportWriter.ToMarkdown(report));
    Console.WriteLine($"wrote {json}");
    Console.WriteLine($"wrote {markdown}");
    return 0;
}
