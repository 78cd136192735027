using BenchmarkDotNet.Running;
using Ptm;
using Ptm.Benchmarks;
using Ptm.Benchmarks.Micro;
using Ptm.Benchmarks.Throughput;

const string Usage = """
    usage:
      Ptm.Benchmarks throughput [--out DIR] [--quick] [--config FILE] [--bert-config FILE | --no-bert] [--in-process] [--peer]
                                [--threads N] [--no-tokenizers] [--settle-seconds S] [--paired-rounds N]
          self-timed training / generation / matmul / tokenizer throughput; writes DIR/<date>-throughput.{json,md}
          (DIR defaults to benchmarks/results, FILE to configs/gpt-kjv.json, the BERT cases to configs/bert-kjv.json);
          --peer also runs benchmarks/peers/pytorch_peer.py (PyTorch eager, OpenBLAS) and adds a side-by-side section;
          --threads sets torch's threads in every case and the peer; the run first waits up to S seconds (default 30)
          for other processes to go quiet; --paired-rounds N (with --peer) then runs every training case N more times,
          Ptm and the peer back to back, and reports the median of the per-round ratios
      Ptm.Benchmarks micro [BenchmarkDotNet arguments, e.g. --filter '*Attention*']
          BenchmarkDotNet micro-benchmarks (all of them when no --filter is given)
    """;

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
        case "malloc-probe": // internal: benchmarks/Ptm.Benchmarks.Tests/MallocTuningTests.cs
            Console.WriteLine(MallocProbe.ToJson(MallocProbe.Run()));
            return 0;
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

static IReadOnlyList<PairedCase> RunPaired(ThroughputPlan plan, ThroughputOptions options, PeerEnvironment peer)
{
    string planPath = Path.Combine(Path.GetTempPath(), $"ptm-peer-plan-{Guid.NewGuid():N}.json");
    try
    {
        PeerRunner.WritePlan(plan, planPath);
        var training = ThroughputRunner.CaseNames(plan).Where(n => n.StartsWith(ThroughputRunner.TrainCasePrefix, StringComparison.Ordinal)).ToList();
        Console.WriteLine($"paired rounds: {string.Join(", ", training)}, {options.PairedRounds} rounds ...");
        // The fused kernels serve GPT training only; its cases also run with them off, to show what they give.
        var gptCases = plan.Training.Select(t => ThroughputRunner.TrainCasePrefix + t.Name).ToHashSet();
        return PairedRounds.Run(training, options.PairedRounds,
            name => ThroughputRunner.RunChild(name, options.ChildArguments(), mklFix: true).Training.Single().TokensPerSecond,
            name => PeerRunner.RunTrainingCase(peer, planPath, name).TokensPerSecond,
            Console.WriteLine,
            name => ThroughputRunner.RunChild(name, options.ChildArguments(), mklFix: true, fusedKernels: false).Training.Single().TokensPerSecond,
            gptCases);
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
    var plan = ThroughputPlan.Standard(options.ConfigPath, options.Quick, options.BertConfigPath);
    var report = ThroughputRunner.Run(plan, options.InProcess ? null : options.ChildArguments(), Console.WriteLine, options.SettleSeconds);
    if (options.Tokenizers)
    {
        Console.WriteLine("running tokenizers (this process) ...");
        report = report with { Tokenizers = TokenizerThroughput.Measure(TokenizerCase.Standard(options.Quick), Console.WriteLine) };
    }
    if (options.Peer)
    {
        var peer = PeerRunner.Run(plan, report, Console.WriteLine);
        Console.WriteLine(peer.Available ? "  peer done" : $"  peer not run: {peer.Reason}");
        report = report with { Peer = peer };
        if (options.PairedRounds > 0 && peer.Available)
            report = report with { Paired = RunPaired(plan, options, peer.Environment!) };
    }
    var (json, markdown) = ThroughputReportWriter.Save(report, options.OutDirectory);
    Console.WriteLine();
    Console.WriteLine(ThroughputReportWriter.ToMarkdown(report));
    Console.WriteLine($"wrote {json}");
    Console.WriteLine($"wrote {markdown}");
    return 0;
}
