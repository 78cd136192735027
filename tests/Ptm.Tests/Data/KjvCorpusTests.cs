using System.Text;
using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Tests.Data;

public class KjvCorpusTests
{
    static readonly string Folder = Path.Combine(DataFixtures.FindRepoRoot(), "data", "kjv");
    static string TrainPath => Path.Combine(Folder, "train.txt");
    static string ValidationPath => Path.Combine(Folder, "validation.txt");

    static readonly string[] HeldOut = ["Judges", "Ruth", "Ezra", "Ecclesiastes", "Daniel", "Jonah", "Mark", "Romans", "Hebrews"];

    static string[] BookNames(string path) =>
        TextSource.Load(path).Select(d => d.Text[..d.Text.IndexOf('\n')]).ToArray();

    [Fact]
    public void FilesExistAndAreStrictUtf8()
    {
        var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
        foreach (string path in new[] { TrainPath, ValidationPath })
        {
            Assert.True(File.Exists(path), $"{path} is missing");
            strict.GetString(File.ReadAllBytes(path)); // throws on invalid bytes
        }
        Assert.Contains("In the beginning God created the heaven and the earth.", File.ReadAllText(TrainPath));
    }

    [Fact]
    public void BooksSplitAsDocumentedWithValidationBooksHeldOutOfTrain()
    {
        string[] train = BookNames(TrainPath), validation = BookNames(ValidationPath);
        Assert.Equal(57, train.Length);
        Assert.Equal(HeldOut, validation);
        Assert.Equal("Genesis", train[0]);
        Assert.Equal("Revelation", train[^1]);
        Assert.Empty(train.Intersect(validation));

        // No held-out verse text leaks into train either (Mark's first verse is unique to Mark).
        Assert.DoesNotContain("The beginning of the gospel of Jesus Christ, the Son of God;", File.ReadAllText(TrainPath));
        Assert.Contains("The beginning of the gospel of Jesus Christ, the Son of God;", File.ReadAllText(ValidationPath));
    }

    [Fact]
    public void PreparesWithACharTokenizerTrainedOnTrain()
    {
        using var dir = new TempDir();
        var corpus = Corpus.Load(new CorpusOptions(TrainPath, ValidationPath));
        var tok = CharTokenizer.Train(string.Concat(corpus.Train.Select(d => d.Text)));
        var result = Preparer.Prepare(tok, corpus, new PrepareOptions(dir.Sub("kjv")));

        SplitInfo train = result.Manifest.Splits["train"], validation = result.Manifest.Splits["validation"];
        Assert.Equal(57, train.Documents);
        Assert.Equal(9, validation.Documents);
        Assert.Equal(train.SourceBytes, train.Tokens); // ASCII: one char, one byte, one token
        Assert.InRange(validation.SourceBytes / (double)(train.SourceBytes + validation.SourceBytes), 0.08, 0.12);
        using var data = TokenDataset.Open(dir.Sub("kjv"), "train");
        Assert.Equal("Genesis\nIn the beginning", tok.Decode(data.Read(0, 24).Select(t => (int)t).ToArray()));
    }
}
