using Ptm.Data;

namespace Ptm.Tests.Data;

/// <summary>One document cut into several: paragraphs first, else runs of lines, else left whole.</summary>
public class DocumentSplitterTests
{
    static IReadOnlyList<string> Split(string text) => DocumentSplitter.Split(new TextDocument("f.txt", 0, text)).Select(d => d.Text).ToList();

    [Fact]
    public void ParagraphsBecomeDocuments()
    {
        Assert.Equal(["a b\nc d\n", "e f\n", "g\n"], Split("a b\nc d\n\n \t\ne f\n\r\n\ng\n"));
        var parts = DocumentSplitter.Split(new TextDocument("f.txt", 3, "a\n\nb\n"));
        Assert.Equal([0, 1], parts.Select(d => d.Index));
        Assert.All(parts, d => Assert.Equal("f.txt", d.Path));
    }

    [Fact]
    public void OneParagraphIsCutIntoRunsOfWholeLines()
    {
        Assert.Equal(["1\n", "2\n", "3\n"], Split("1\n2\n3\n"));
        string text = string.Concat(Enumerable.Range(0, 25).Select(i => $"line {i}\n"));
        var runs = Split(text);
        Assert.Equal(DocumentSplitter.MaxChunks, runs.Count);
        Assert.Equal(text, string.Concat(runs)); // nothing lost, nothing reordered
        Assert.All(runs, r => Assert.InRange(r.Count(c => c == '\n'), 2, 3));
    }

    [Fact]
    public void OneLineStaysWhole() => Assert.Equal(["just one line\n"], Split("just one line\n"));

    [Fact]
    public void ASingleFileCorpusIsSplitIntoParagraphDocuments()
    {
        using var dir = new TempDir();
        string file = dir.File("book.txt", string.Join("\n\n", Enumerable.Range(0, 10).Select(i => $"paragraph {i}")) + "\n");
        var corpus = Corpus.Load(new CorpusOptions(file, ValidationFraction: 0.2, Seed: 3));
        Assert.Equal(8, corpus.Train.Count);
        Assert.Equal(2, corpus.Validation.Count);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"paragraph {i}\n"), corpus.Train.Concat(corpus.Validation).OrderBy(d => d.Index).Select(d => d.Text));
    }
}
