using Ptm.Tokenization;

namespace Ptm.Benchmarks.Tests;

/// <summary>Files the harness tests read from the repository: configs, the KJV corpus and GPT-2's tokenizer files
/// (the copy tests/Ptm.Tests keeps as a fixture).</summary>
static class TestPaths
{
    /// <summary>The folder holding Ptm.slnx, above the test binaries.</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Ptm.slnx"))) return d.FullName;
        throw new InvalidOperationException($"no Ptm.slnx above {AppContext.BaseDirectory}");
    }

    /// <summary>GPT-2's encoder.json and vocab.bpe.</summary>
    public static string Gpt2Directory => Path.Combine(RepoRoot(), "tests", "Ptm.Tests", "fixtures", "gpt2");

    static readonly Lazy<ByteLevelBpeTokenizer> gpt2 = new(() =>
        ByteLevelBpeTokenizer.Load(Path.Combine(Gpt2Directory, "encoder.json"), Path.Combine(Gpt2Directory, "vocab.bpe")));

    /// <summary>GPT-2's tokenizer, loaded once.</summary>
    public static ByteLevelBpeTokenizer Gpt2Tokenizer => gpt2.Value;

    /// <summary>The Ptm.Benchmarks apphost copied next to the tests.</summary>
    public static string BenchmarksExe => Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "Ptm.Benchmarks.exe" : "Ptm.Benchmarks");
}
