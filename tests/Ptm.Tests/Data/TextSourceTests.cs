using System.IO.Compression;
using System.Text;
using Ptm.Data;

namespace Ptm.Tests.Data;

public class TextSourceTests
{
    static string[] Names(IEnumerable<string> paths, TempDir dir) =>
        paths.Select(p => Path.GetRelativePath(dir.Path, p).Replace('\\', '/')).ToArray();

    [Fact]
    public void FolderTakesTxtFilesRecursivelyInOrdinalOrder()
    {
        using var dir = new TempDir();
        dir.File("c/b.txt", "x");
        dir.File("c/a.txt", "x");
        dir.File("c/B.txt", "x");
        dir.File("c/sub/a.txt", "x");
        dir.File("c/notes.md", "x");
        dir.File("c/a.txt.bak", "x");
        Assert.Equal(["c/B.txt", "c/a.txt", "c/b.txt", "c/sub/a.txt"], Names(TextSource.ResolveFiles(dir.Sub("c")), dir));
    }

    [Fact]
    public void FileSpecIsThatFile()
    {
        using var dir = new TempDir();
        string file = dir.File("one.dat", "hello");
        Assert.Equal([file], TextSource.ResolveFiles(file));
        var doc = Assert.Single(TextSource.Load(file));
        Assert.Equal(new TextDocument(file, 0, "hello\n"), doc);
    }

    [Fact]
    public void GlobMatchesWithinOneSegmentAndDoubleStarRecurses()
    {
        using var dir = new TempDir();
        dir.File("g/z.txt", "x");
        dir.File("g/a.txt", "x");
        dir.File("g/a.md", "x");
        dir.File("g/deep/er/m.txt", "x");
        Assert.Equal(["g/a.txt", "g/z.txt"], Names(TextSource.ResolveFiles(dir.Sub("g") + "/*.txt"), dir));
        Assert.Equal(["g/a.txt", "g/deep/er/m.txt", "g/z.txt"], Names(TextSource.ResolveFiles(dir.Sub("g") + "/**/*.txt"), dir));
        Assert.Equal(["g/a.md"], Names(TextSource.ResolveFiles(dir.Sub("g") + "/a.??"), dir));
        Assert.Equal(["g/deep/er/m.txt"], Names(TextSource.ResolveFiles(dir.Sub("g") + "/*/*/?.txt"), dir));
    }

    [Fact]
    public void DocumentsFollowFileOrderThenPositionInFile()
    {
        using var dir = new TempDir();
        dir.File("d/2.txt", "third");
        dir.File("d/1.txt", "first\n\n\f\nsecond\n");
        var docs = TextSource.Load(dir.Sub("d"));
        Assert.Equal(["first\n", "second\n", "third\n"], docs.Select(d => d.Text));
        Assert.Equal([0, 1, 0], docs.Select(d => d.Index));
    }

    [Fact]
    public void FormFeedLinesSplitDocumentsAndBlankLinesAroundThemAreTrimmed()
    {
        string text = "\n\nGenesis\n  In the beginning.\n\n\f\n\nExodus\nNow these.\r\n\f\r\n\f\nlast line has a\fform feed inside\n";
        Assert.Equal(
            ["Genesis\n  In the beginning.\n", "Exodus\nNow these.\n", "last line has a\fform feed inside\n"],
            TextSource.SplitDocuments(text));
        Assert.Empty(TextSource.SplitDocuments(" \n\f\n\n"));
    }

    [Fact]
    public void NonUtf8FileNamesThePathAndTheByteOffset()
    {
        using var dir = new TempDir();
        string bad = dir.Bytes("bad.txt", [(byte)'a', (byte)'b', 0xC3, 0x28, (byte)'c']);
        var e = Assert.Throws<InvalidInputException>(() => TextSource.Load(bad));
        Assert.Equal($"{bad}: not valid UTF-8 (byte offset 2)", e.Message);

        // Offsets count from the start of the file, BOM included; a truncated sequence at the end is invalid too.
        string bom = dir.Bytes("bom.txt", [0xEF, 0xBB, 0xBF, (byte)'o', (byte)'k', 0xE2, 0x82]);
        Assert.Equal($"{bom}: not valid UTF-8 (byte offset 5)", Assert.Throws<InvalidInputException>(() => TextSource.Load(bom)).Message);
    }

    [Fact]
    public void BomIsSkipped()
    {
        using var dir = new TempDir();
        string file = dir.Bytes("bom.txt", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("héllo")]);
        Assert.Equal("héllo\n", Assert.Single(TextSource.Load(file)).Text);
    }

    [Fact]
    public void GzipFilesAreReadTransparently()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.Sub("z"));
        using (var gz = new GZipStream(File.Create(dir.Sub("z/a.txt.gz")), CompressionLevel.Optimal))
            gz.Write(Encoding.UTF8.GetBytes("one\n\f\ntwo"));
        Assert.Equal(["one\n", "two\n"], TextSource.Load(dir.Sub("z")).Select(d => d.Text));
    }

    [Fact]
    public void MissingPathIsReported()
    {
        using var dir = new TempDir();
        string missing = dir.Sub("nope.txt");
        Assert.Equal($"{missing}: no such file or directory", Assert.Throws<InvalidInputException>(() => TextSource.Load(missing)).Message);
        string missingRoot = dir.Sub("nodir");
        Assert.Equal($"{missingRoot}: no such file or directory",
            Assert.Throws<InvalidInputException>(() => TextSource.Load(missingRoot + "/*.txt")).Message);
    }

    [Fact]
    public void EmptyCorpusIsReported()
    {
        using var dir = new TempDir();
        dir.File("e/a.txt", "");
        dir.File("e/b.txt", " \n\n\f\n");
        dir.File("none/readme.md", "not text");
        foreach (string spec in new[] { dir.Sub("e"), dir.Sub("none"), dir.Sub("e") + "/*.nothing" })
            Assert.Equal($"{spec}: corpus is empty", Assert.Throws<InvalidInputException>(() => TextSource.Load(spec)).Message);
    }
}
