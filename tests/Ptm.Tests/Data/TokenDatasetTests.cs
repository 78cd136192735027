using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Tests.Data;

public class TokenDatasetTests
{
    [Theory]
    [InlineData("uint16")]
    [InlineData("int32")]
    public void ReadsWindowsAsInt64(string dtype)
    {
        using var dir = new TempDir();
        int[] tokens = [5, 65535, 0, 42, 7, 1000];
        if (dtype == "int32") tokens[1] = 69999;
        using var data = TokenDataset.Open(DataFixtures.WriteTokens(dir, "d", tokens, dtype), "train");
        Assert.Equal(6, data.Length);
        Assert.Equal(tokens.Select(t => (long)t), data.Read(0, 6));
        Assert.Equal([(long)tokens[1], 0, 42], data.Read(1, 3));
        Assert.Empty(data.Read(6, 0));
        Assert.Equal(1000, data[5]);
        Span<long> window = stackalloc long[2];
        data.Read(4, window);
        Assert.Equal([7L, 1000], window.ToArray());
    }

    [Fact]
    public void WindowsOutsideTheSplitAreRejected()
    {
        using var dir = new TempDir();
        using var data = DataFixtures.Positions(dir, 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Read(8, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => data.Read(-1, 1));
    }

    [Fact]
    public void SizeMismatchNamesTheFileAndBothSizes()
    {
        using var dir = new TempDir();
        string folder = DataFixtures.WriteTokens(dir, "d", [1, 2, 3]);
        string bin = Path.Combine(folder, "train.bin");
        File.WriteAllBytes(bin, new byte[5]);
        var e = Assert.Throws<InvalidInputException>(() => TokenDataset.Open(folder, "train"));
        Assert.StartsWith($"{bin}: expected 6 bytes", e.Message);
        Assert.Contains("has 5 bytes", e.Message);
    }

    [Fact]
    public void MissingOrBrokenManifestIsReported()
    {
        using var dir = new TempDir();
        string folder = DataFixtures.WriteTokens(dir, "d", [1, 2, 3]);
        string manifest = Path.Combine(folder, "manifest.json");

        Assert.Contains("has no split 'validation'", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(folder, "validation")).Message);

        File.WriteAllText(manifest, "{ \"formatVersion\": 1, ");
        Assert.StartsWith($"{manifest}: not a valid data manifest", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(folder, "train")).Message);

        File.WriteAllText(manifest, "{ \"formatVersion\": 1, \"dtype\": \"uint16\" }");
        Assert.StartsWith($"{manifest}: not a valid data manifest", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(folder, "train")).Message);

        File.Delete(manifest);
        Assert.StartsWith($"{manifest}: no such file", Assert.Throws<InvalidInputException>(() => TokenDataset.Open(folder, "train")).Message);
    }

    [Fact]
    public void EmptySplitOpensWithLengthZero()
    {
        using var dir = new TempDir();
        using var data = TokenDataset.Open(DataFixtures.WriteTokens(dir, "d", []), "train");
        Assert.Equal(0, data.Length);
    }

    [Fact]
    public void OpensWhatPreparerWrote()
    {
        using var dir = new TempDir();
        string text = dir.File("t.txt", "hello world");
        var tok = CharTokenizer.Train("hello world\n");
        Preparer.Prepare(tok, new CorpusOptions(text, text), new PrepareOptions(dir.Sub("out")));
        using var data = TokenDataset.Open(dir.Sub("out"), "validation");
        Assert.Equal("hello world\n", tok.Decode(data.Read(0, (int)data.Length).Select(t => (int)t).ToArray()));
    }

    [Fact]
    public void DisposedDatasetRefusesReads()
    {
        using var dir = new TempDir();
        var data = DataFixtures.Positions(dir, 4);
        data.Dispose();
        data.Dispose();
        Assert.Throws<ObjectDisposedException>(() => data.Read(0, 1));
    }
}
