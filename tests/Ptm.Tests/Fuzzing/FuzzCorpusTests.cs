using Ptm.Fuzz;

namespace Ptm.Tests.Fuzzing;

/// <summary>
/// Replays every input afl-fuzz found crashing (fixtures/fuzz/TARGET/*, see docs/fuzzing.md) through the same
/// target code the fuzzer runs: each must now load or be refused with <see cref="InvalidInputException"/>, the only
/// exception a loader may throw. An input that escapes with another exception fails its test.
/// </summary>
public class FuzzCorpusTests
{
    static string CorpusRoot => Path.Combine(AppContext.BaseDirectory, "fixtures", "fuzz");

    /// <summary>(target, file name) of every stored input.</summary>
    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        foreach (string dir in Directory.GetDirectories(CorpusRoot).Order(StringComparer.Ordinal))
            foreach (string file in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
                data.Add(Path.GetFileName(dir), Path.GetFileName(file));
        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void StoredInputLoadsOrIsRefusedWithTheDocumentedException(string target, string file)
    {
        Assert.True(FuzzTargets.All.ContainsKey(target), $"fixtures/fuzz/{target}: no such fuzz target");
        byte[] input = File.ReadAllBytes(Path.Combine(CorpusRoot, target, file));
        using var scratch = new TempDir();
        FuzzTargets.Run(target, input, scratch.Path); // throws anything but InvalidInputException
    }

    [Fact]
    public void EveryTargetHasAStoredCorpusFolder()
    {
        var stored = Directory.GetDirectories(CorpusRoot).Select(Path.GetFileName).ToHashSet();
        string[] missing = FuzzTargets.All.Keys.Where(t => !stored.Contains(t)).ToArray();
        Assert.True(missing.Length == 0, $"no fixtures/fuzz folder for: {string.Join(", ", missing)}");
    }
}
