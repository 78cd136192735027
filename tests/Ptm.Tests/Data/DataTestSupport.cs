using System.Text;
using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Tests.Data;

/// <summary>Wraps a char tokenizer and adds an end-of-text id after its vocabulary, like GPT-2's &lt;|endoftext|&gt;.</summary>
sealed class EotCharTokenizer(CharTokenizer inner) : ITokenizer
{
    public string Kind => "char+eot";
    public int VocabSize => inner.VocabSize + 1;
    public int? EndOfTextId => inner.VocabSize;
    public int[] Encode(string text) => inner.Encode(text);
    public byte[] DecodeToBytes(ReadOnlySpan<int> ids) => inner.DecodeToBytes(ids);
    public string Decode(ReadOnlySpan<int> ids) => inner.Decode(ids);
    public void Save(string directory) => inner.Save(directory);
}

/// <summary>A vocabulary too large for uint16: each character maps to (code point + Offset).</summary>
sealed class WideTokenizer : ITokenizer
{
    public const int Offset = 69000;
    public string Kind => "wide";
    public int VocabSize => 70000;
    public int? EndOfTextId => null;
    public int[] Encode(string text) => text.Select(c => Offset + c).ToArray();
    public byte[] DecodeToBytes(ReadOnlySpan<int> ids) => Encoding.UTF8.GetBytes(Decode(ids));
    public string Decode(ReadOnlySpan<int> ids) => new(ids.ToArray().Select(i => (char)(i - Offset)).ToArray());
    public void Save(string directory) => File.WriteAllText(System.IO.Path.Combine(directory, "wide.json"), "{}");
}

static class DataFixtures
{
    /// <summary>A prepared folder whose split holds the given tokens directly, bypassing any tokenizer.</summary>
    public static string WriteTokens(TempDir dir, string name, IReadOnlyList<int> tokens, string dtype = DataManifest.UInt16)
    {
        string folder = dir.Sub(name);
        Directory.CreateDirectory(folder);
        using (var stream = System.IO.File.Create(System.IO.Path.Combine(folder, "train.bin")))
        using (var writer = new BinaryWriter(stream))
            foreach (int t in tokens)
                if (dtype == DataManifest.UInt16) writer.Write((ushort)t); else writer.Write(t);
        var manifest = new DataManifest(DataManifest.CurrentFormatVersion, dtype,
            new TokenizerInfo("test", 70000, null, []),
            new SourceInfo("test", null, null, null),
            new Dictionary<string, SplitInfo> { ["train"] = new("train.bin", tokens.Count, tokens.Count, 1) });
        manifest.Save(folder);
        return folder;
    }

    /// <summary>Token i has value i, so a window's contents reveal where it was taken from.</summary>
    public static TokenDataset Positions(TempDir dir, int length) =>
        TokenDataset.Open(WriteTokens(dir, "positions", Enumerable.Range(0, length).ToArray()), "train");

    public static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (System.IO.File.Exists(System.IO.Path.Combine(d.FullName, "Ptm.slnx"))) return d.FullName;
        throw new InvalidOperationException($"no Ptm.slnx above {AppContext.BaseDirectory}");
    }
}
