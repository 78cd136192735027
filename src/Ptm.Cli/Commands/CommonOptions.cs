using System.CommandLine;

namespace Ptm.Cli.Commands;

static class CommonOptions
{
    public static Option<int> Threads() => new("--threads")
    {
        Description = "libtorch intra-op threads (0 = libtorch's default: one per physical core)",
        DefaultValueFactory = _ => 0,
    };

    public static void ApplyThreads(int threads)
    {
        if (threads < 0) throw new InvalidInputException($"--threads must be >= 0 (got {threads})");
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
    }

    /// <summary>The repository folder holding the shipped data and configs, found from the program's location
    /// or the working folder, so `./ptm` works from anywhere inside a clone.</summary>
    public static string? RepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Ptm.slnx"))) return dir.FullName;
        return null;
    }

    /// <summary>A path relative to the working folder if it exists there, else relative to the repository, else beside
    /// the program (an installed tool carries configs/ and data/kjv/ there; docs/packaging.md).</summary>
    public static string Shipped(string relative)
    {
        if (Path.Exists(relative)) return relative;
        string? root = RepoRoot();
        if (root is not null) return Path.Combine(root, relative);
        string beside = Path.Combine(AppContext.BaseDirectory, relative);
        return Path.Exists(beside) ? beside : relative;
    }
}
