namespace Ptm.Benchmarks.Throughput;

/// <summary>Command-line options of the <c>throughput</c> mode.</summary>
/// <param name="Peer">Also run the PyTorch peer (benchmarks/peers/pytorch_peer.py) and add the side-by-side section.</param>
/// <param name="BertConfigPath">BERT run config for the <c>train:bert</c> and <c>train:bert-base</c> cases; null when --no-bert or the default file is absent.</param>
/// <param name="Threads">torch intra-op threads for every case (and the peer); 0 keeps libtorch's default.</param>
/// <param name="Tokenizers">Also time the tokenizers (--no-tokenizers skips them).</param>
/// <param name="SettleSeconds">Wait up to this long for a quiet machine before the first case (--settle-seconds; 0: no wait).</param>
/// <param name="PairedRounds">With --peer: this many rounds of every training case, Ptm and the peer back to back (--paired-rounds; 0: none).</param>
/// <param name="CpuIsaModes">--cpu-isa: the instruction sets both sides may use; the first serves the whole run, and the
/// paired rounds run once per mode (null: native only).</param>
public sealed record ThroughputOptions(string OutDirectory, bool Quick, string ConfigPath, bool InProcess, bool Peer = false, string? BertConfigPath = null,
    int Threads = 0, bool Tokenizers = true, double SettleSeconds = ThroughputOptions.DefaultSettleSeconds, int PairedRounds = 0,
    IReadOnlyList<CpuIsa>? CpuIsaModes = null)
{
    public const double DefaultSettleSeconds = 30;

    /// <summary>The modes in the order they run (native when --cpu-isa was not given).</summary>
    public IReadOnlyList<CpuIsa> CpuIsas => CpuIsaModes ?? [CpuIsa.Native];

    /// <summary>The mode of the main run (every case, the peer's full run).</summary>
    public CpuIsa CpuIsa => CpuIsas[0];

    public static ThroughputOptions Parse(IReadOnlyList<string> args)
    {
        string? outDir = null, config = null, bertConfig = null;
        bool quick = false, inProcess = false, peer = false, noBert = false, tokenizers = true;
        int threads = 0, paired = 0;
        IReadOnlyList<CpuIsa>? isas = null;
        double settle = DefaultSettleSeconds;
        for (int i = 0; i < args.Count; i++)
        {
            string Value() => i + 1 < args.Count ? args[++i] : throw new InvalidInputException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--out": outDir = Value(); break;
                case "--config": config = Value(); break;
                case "--quick": quick = true; break;
                case "--in-process": inProcess = true; break;
                case "--peer": peer = true; break;
                case "--bert-config": bertConfig = Value(); break;
                case "--no-bert": noBert = true; break;
                case "--no-tokenizers": tokenizers = false; break;
                case "--cpu-isa": isas = CpuIsaEnvironment.Parse(Value()); break;
                case "--threads":
                    threads = int.TryParse(Value(), out int n) && n > 0 ? n : throw new InvalidInputException($"--threads must be a positive integer (got '{args[i]}')");
                    break;
                case "--paired-rounds":
                    paired = int.TryParse(Value(), out int r) && r > 0 ? r : throw new InvalidInputException($"--paired-rounds must be a positive integer (got '{args[i]}')");
                    break;
                case "--settle-seconds":
                    settle = double.TryParse(Value(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double sec) && sec >= 0
                        ? sec : throw new InvalidInputException($"--settle-seconds must be a number >= 0 (got '{args[i]}')");
                    break;
                default: throw new InvalidInputException($"unknown option '{args[i]}'");
            }
        }
        if (paired > 0 && (!peer || inProcess))
            throw new InvalidInputException("--paired-rounds needs --peer and child processes (not --in-process)");
        if (isas is not null && isas.Any(i => i != CpuIsa.Native) && inProcess)
            throw new InvalidInputException("--cpu-isa avx2 needs child processes (not --in-process): libraries read their instruction-set switches when they load");
        if (isas is { Count: > 1 } && paired == 0)
            throw new InvalidInputException("--cpu-isa both compares the modes in paired rounds: give --peer --paired-rounds N");
        string root = RepoPaths.FindRoot() ?? Directory.GetCurrentDirectory();
        return new ThroughputOptions(
            Path.GetFullPath(outDir ?? Path.Combine(root, "benchmarks", "results")),
            quick,
            Path.GetFullPath(config ?? Path.Combine(root, "configs", "gpt-kjv.json")),
            inProcess,
            peer,
            noBert ? null : bertConfig is not null ? Path.GetFullPath(bertConfig)
                : File.Exists(Path.Combine(root, "configs", "bert-kjv.json")) ? Path.Combine(root, "configs", "bert-kjv.json") : null,
            threads, tokenizers, settle, paired, isas);
    }

    /// <summary>What a child needs to rebuild the same plan.</summary>
    public IReadOnlyList<string> ChildArguments() =>
        [
            "--config", ConfigPath, .. Quick ? ["--quick"] : Array.Empty<string>(),
            .. BertConfigPath is null ? ["--no-bert"] : new[] { "--bert-config", BertConfigPath },
            .. Threads > 0 ? ["--threads", Threads.ToString(System.Globalization.CultureInfo.InvariantCulture)] : Array.Empty<string>(),
        ];
}
