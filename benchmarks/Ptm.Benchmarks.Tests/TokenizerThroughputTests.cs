using System.Text;
using Ptm.Benchmarks.Throughput;

namespace Ptm.Benchmarks.Tests;

/// <summary>The tokenizer throughput case on a small corpus: ids checked across implementations, never timings.</summary>
public class TokenizerThroughputTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-tok-bench-" + Guid.NewGuid().ToString("N"));

    public TokenizerThroughputTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    string Corpus(string text)
    {
        string path = Path.Combine(dir, "corpus.txt");
        File.WriteAllText(path, text, new UTF8Encoding(false));
        return path;
    }

    static string KjvHead(int lines) =>
        string.Join("\n", File.ReadLines(Path.Combine(TestPaths.RepoRoot(), "data", "kjv", "train.txt")).Take(lines)) + "\n";

    [Fact]
    public void BothBpeAndBothWordPieceEncodersGiveTheSameIds_AndNodeIsMeasuredOrExplained()
    {
        var c = new TokenizerCase(Corpus(KjvHead(300)), TestPaths.Gpt2Directory, Repetitions: 1, WordPieceVocabSize: 300);
        var section = TokenizerThroughput.Measure(c, _ => { });

        Assert.Equal(300, section.Lines);
        var bpe = section.Results.Where(r => r.Tokenizer == TokenizerCase.Bpe).ToList();
        var wordPiece = section.Results.Where(r => r.Tokenizer == TokenizerCase.WordPiece).ToList();
        Assert.Equal("Ptm ByteLevelBpeTokenizer", bpe[0].Implementation);
        Assert.Equal("Microsoft.ML.Tokenizers BpeTokenizer", bpe[1].Implementation);
        Assert.Equal(["Ptm WordPieceTokenizer", "Microsoft.ML.Tokenizers BertTokenizer"], wordPiece.Select(r => r.Implementation));
        Assert.All(bpe.Concat(wordPiece).Skip(1), r => Assert.NotEqual(false, r.IdsMatchPtm));
        Assert.Equal(bpe[0].IdsChecksum, bpe[1].IdsChecksum);
        Assert.Equal(wordPiece[0].IdsChecksum, wordPiece[1].IdsChecksum);

        Assert.Equal(File.ReadLines(c.CorpusPath).Sum(l => Encoding.UTF8.GetByteCount(l)), bpe[0].Bytes);
        Assert.Equal(File.ReadLines(c.CorpusPath).Sum(l => TestPaths.Gpt2Tokenizer.Encode(l).Length), bpe[0].Tokens);

        // Node: either both npm encoders ran and reproduced Ptm's ids exactly, or a note says why not.
        var node = bpe.Skip(2).ToList();
        if (node.Count == 0) Assert.Contains(section.Notes, n => n.Contains("node peer", StringComparison.Ordinal));
        else Assert.All(node, r => Assert.True(r.IdsMatchPtm == true && r.IdsChecksum == bpe[0].IdsChecksum, r.Implementation));
    }

    /// <summary>.NET's Regex sees U+1D400 as two UTF-16 units, so Microsoft.ML splits "a𝐀's" differently from GPT-2
    /// (see MicrosoftMlTokenizersComparisonTests): the harness must refuse to compare, naming the line.</summary>
    [Fact]
    public void DifferentIdsStopTheComparisonAndNameTheLine()
    {
        var c = new TokenizerCase(Corpus("In the beginning\na𝐀's\n"), TestPaths.Gpt2Directory, Repetitions: 1, WordPieceVocabSize: 100);
        var e = Assert.Throws<InvalidOperationException>(() => TokenizerThroughput.Measure(c, _ => { }));
        Assert.Contains("line 2", e.Message);
        Assert.Contains("different ids", e.Message);
    }

    [Fact]
    public void MissingNodeIsANoteNotAFailure()
    {
        string? before = Environment.GetEnvironmentVariable("PTM_PEER_NODE");
        Environment.SetEnvironmentVariable("PTM_PEER_NODE", Path.Combine(dir, "no-such-node"));
        try
        {
            var c = new TokenizerCase(Corpus(KjvHead(20)), TestPaths.Gpt2Directory, Repetitions: 1);
            var ptm = TokenizerThroughput.Time(TokenizerCase.Bpe, "Ptm", TokenizerThroughput.ReadLines(c.CorpusPath, null), 1, 1, TestPaths.Gpt2Tokenizer.Encode);
            var (rows, notes) = NodeTokenizerPeer.Run(c, ptm);
            Assert.Empty(rows);
            Assert.Contains("node peer skipped: cannot start", Assert.Single(notes));
        }
        finally
        {
            Environment.SetEnvironmentVariable("PTM_PEER_NODE", before);
        }
    }

    /// <summary>The checksum the node peer computes (tokenizer_peer.js) for the same ids, written down once.</summary>
    [Fact]
    public void IdChecksumMatchesTheNodePeersFnv1a()
    {
        var c = new IdChecksum();
        c.AddLine([15496, 995]);
        c.AddLine([]);
        c.AddLine([50256, 0, 1]);
        Assert.Equal("9d413842", c.ToString());
        Assert.Equal(5, c.Tokens);
    }

    [Fact]
    public void LinesAreSplitAtNewlinesWithCarriageReturnsDroppedAndCappedByBytes()
    {
        string path = Corpus("one\r\ntwo\n\nthree\n");
        Assert.Equal(["one", "two", "", "three"], TokenizerThroughput.ReadLines(path, null));
        Assert.Equal(["one", "two"], TokenizerThroughput.ReadLines(path, 6));
        Assert.Throws<InvalidInputException>(() => TokenizerThroughput.ReadLines(Path.Combine(dir, "missing.txt"), null));
    }
}
