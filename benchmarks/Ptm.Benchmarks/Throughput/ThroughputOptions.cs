namespace Ptm.Benchmarks.Throughput;

/// <summary>Command-line options of the <c>throughput</c> mode.</summary>
/// <param name="Peer">Also run the PyTorch peer (benchmarks/peers/pytorch_peer.py) and add the side-by-side section.</param>
/// <param name="BertConfigPath">BERT run config for the <c>train:bert</c> case; null when --no-bert or the default file is absent.</param>
public sealed record ThroughputOptions(string OutDirectory, bool Quick, string ConfigPath, bool InProcess, bool Peer = false, string? BertConfigPath = null)
{
    public static ThroughputOptions Parse(IReadOnlyList<string> args)
    {
        string? outDir = null, config = null, bertConfig = null;
        bool quick = false, inProcess = false, peer = false, noBert = false;
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
                default: throw new InvalidInputException($"unknown option '{args[i]}'");
            }
        }
        string root = RepoPaths.FindRoot() ?? Directory.GetCurrentDirectory();
        return new ThroughputOptions(
            Path.GetFullPath(outDir ?? Path.Combine(root, "benchmarks", "results")),
            quick,
            Path.GetFullPath(config ?? Path.Combine(root, "configs", "gpt-kjv.json")),
            inProcess,
            peer,
            noBert ? null : bertConfig is not null ? Path.GetFullPath(bertConfig)
                : File.Exists(Path.Combine(root, "configs", "bert-kjv.json")) ? Path.Combine(root, "configs", "bert-kjv.json") : null);
    }

    /// <summary>What a child needs to rebuild the same plan.</summary>
    public IReadOnlyList<string> ChildArguments() =>
        [
            "--config", ConfigPath, .. Quick ? ["--quick"] : Array.Empty<string>(),
            .. BertConfigPath is null ? ["--no-bert"] : new[] { "--bert-config", BertConfigPath },
        ];
}
