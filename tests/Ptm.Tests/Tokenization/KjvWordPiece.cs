using Ptm.Tests.Data;
using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>WordPiece vocabularies trained once per test run on data/kjv/train.txt (4000 tokens), and saved to a
/// folder so other tokenizers can load the same vocab.txt.</summary>
internal static class KjvWordPiece
{
    public static string TrainPath => Path.Combine(DataFixtures.FindRepoRoot(), "data", "kjv", "train.txt");

    static readonly Lazy<string[]> lines = new(() => File.ReadAllLines(TrainPath));
    public static string[] Lines => lines.Value;

    static readonly Lazy<WordPieceTokenizer> uncased = new(() => WordPieceTokenizer.Train(Lines, 4000, doLowerCase: true));
    static readonly Lazy<WordPieceTokenizer> cased = new(() => WordPieceTokenizer.Train(Lines, 4000, doLowerCase: false));
    public static WordPieceTokenizer Uncased => uncased.Value;
    public static WordPieceTokenizer Cased => cased.Value;

    static readonly Lazy<string> uncasedFolder = new(() => SaveToFolder(Uncased, "uncased"));
    static readonly Lazy<string> casedFolder = new(() => SaveToFolder(Cased, "cased"));
    public static string VocabPath(bool lowerCase) => Path.Combine(lowerCase ? uncasedFolder.Value : casedFolder.Value, WordPieceTokenizer.VocabFileName);

    static string SaveToFolder(WordPieceTokenizer t, string name)
    {
        // One folder per process; the OS temp cleaner removes it (tests may run in parallel, so no shared dispose).
        string dir = Path.Combine(Path.GetTempPath(), $"ptm-wordpiece-kjv-{Environment.ProcessId}-{name}");
        Directory.CreateDirectory(dir);
        t.Save(dir);
        return dir;
    }
}
