using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using Ptm.Tokenization;
using WordPieceTokenizer = Ptm.Tokenization.WordPieceTokenizer;

namespace Ptm.Benchmarks.Throughput;

/// <summary>Tokenizer throughput: every encoder encodes the same corpus line by line.</summary>
/// <param name="CorpusPath">UTF-8 text, encoded one line at a time (data/kjv/train.txt).</param>
/// <param name="Gpt2Directory">OpenAI's GPT-2 <c>encoder.json</c> + <c>vocab.bpe</c>, which every BPE side loads.</param>
/// <param name="MaxBytes">Use only the first lines up to this many UTF-8 bytes (--quick); null: the whole corpus.</param>
/// <param name="WordPieceVocabSize">Size of the WordPiece vocabulary trained on the corpus (untimed) for both WordPiece sides.</param>
public sealed record TokenizerCase(
    string CorpusPath, string Gpt2Directory, int Repetitions, long? MaxBytes = null, int WordPieceVocabSize = 4000)
{
    public const string Bpe = "bpe (GPT-2 vocabulary)";
    public const string WordPiece = "wordpiece (uncased, trained on the corpus)";

    /// <summary>The standard case: the KJV training text and the GPT-2 files of the test fixtures.</summary>
    public static TokenizerCase Standard(bool quick) => new(
        RepoPaths.InRepo("data", "kjv", "train.txt"),
        RepoPaths.InRepo("tests", "Ptm.Tests", "fixtures", "gpt2"),
        Repetitions: quick ? 1 : 5,
        MaxBytes: quick ? 400_000 : null);
}

/// <summary>One encoder over the corpus. Throughput counts UTF-8 bytes of the lines (newlines excluded).</summary>
/// <param name="Tokenizer">Which vocabulary/algorithm (<see cref="TokenizerCase.Bpe"/> or <see cref="TokenizerCase.WordPiece"/>).</param>
/// <param name="Implementation">Whose encoder: Ptm, Microsoft.ML.Tokenizers, js-tiktoken, gpt-3-encoder.</param>
/// <param name="IdsChecksum">FNV-1a over every id, with a separator after each line (see <see cref="IdChecksum"/>);
/// equal checksums and token counts mean the ids were identical.</param>
/// <param name="FirstPassSeconds">The first, untimed-for-throughput pass: caches are cold.</param>
/// <param name="MbPerSecond">Bytes / median pass seconds / 10⁶, after the first pass.</param>
public sealed record TokenizerMeasurement(
    string Tokenizer, string Implementation, string Runtime, int Lines, long Bytes, long Tokens, string IdsChecksum,
    int Repetitions, double FirstPassSeconds, double BestSeconds, double MedianSeconds, double MbPerSecond,
    double BestMbPerSecond, double FirstPassMbPerSecond, bool? IdsMatchPtm = null);

/// <summary>The tokenizer part of the report: the measurements and what was skipped and why.</summary>
public sealed record TokenizerSection(string Corpus, long Bytes, int Lines, IReadOnlyList<TokenizerMeasurement> Results, IReadOnlyList<string> Notes);

/// <summary>FNV-1a (32 bit) over token ids, one separator word after each line; the node peer computes the same.</summary>
public sealed class IdChecksum
{
    uint hash = 2166136261;
    public long Tokens { get; private set; }

    public void AddLine(ReadOnlySpan<int> ids)
    {
        foreach (int id in ids) Mix((uint)id);
        Mix(0xFFFFFFFF);
        Tokens += ids.Length;
    }

    void Mix(uint value)
    {
        hash ^= value;
        hash = unchecked(hash * 16777619);
    }

    public override string ToString() => hash.ToString("x8");
}

/// <summary>Times Ptm's tokenizers against Microsoft.ML.Tokenizers (same files, ids asserted identical) and, when
/// node and the npm packages are there, against js-tiktoken and gpt-3-encoder (see <see cref="NodeTokenizerPeer"/>).</summary>
public static class TokenizerThroughput
{
    /// <summary>GPT-2's pre-tokenizer pattern as a .NET Regex, for Microsoft.ML's BpeTokenizer (the same pattern as
    /// tests/Ptm.Tests/Tokenization/MicrosoftMlTokenizersComparisonTests).</summary>
    const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static TokenizerSection Measure(TokenizerCase c, Action<string> log)
    {
        if (c.Repetitions <= 0) throw new ArgumentException("at least one repetition is needed", nameof(c));
        string[] lines = ReadLines(c.CorpusPath, c.MaxBytes);
        long bytes = lines.Sum(l => (long)Encoding.UTF8.GetByteCount(l));
        var results = new List<TokenizerMeasurement>();
        var notes = new List<string>();

        string vocab = Path.Combine(c.Gpt2Directory, ByteLevelBpeTokenizer.Gpt2VocabFileName);
        string merges = Path.Combine(c.Gpt2Directory, ByteLevelBpeTokenizer.Gpt2MergesFileName);
        var ours = ByteLevelBpeTokenizer.Load(vocab, merges);
        var specials = new Dictionary<string, int> { [ByteLevelBpeTokenizer.EndOfText] = ours.EndOfTextId ?? 50256 };
        var theirs = BpeTokenizer.Create(new BpeOptions(vocab, merges)
        {
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(new Regex(Gpt2Pattern, RegexOptions.Compiled), specials),
            SpecialTokens = specials,
        });
        log("  tokenizers: BPE (GPT-2 vocabulary), Ptm vs Microsoft.ML.Tokenizers ...");
        var bpeOurs = Time(TokenizerCase.Bpe, "Ptm ByteLevelBpeTokenizer", lines, bytes, c.Repetitions, ours.Encode);
        var bpeTheirs = Time(TokenizerCase.Bpe, "Microsoft.ML.Tokenizers BpeTokenizer", lines, bytes, c.Repetitions,
            l => theirs.EncodeToIds(l).ToArray());
        AssertSameIds(bpeOurs, bpeTheirs, lines, ours.Encode, l => theirs.EncodeToIds(l).ToArray());
        results.Add(bpeOurs);
        results.Add(bpeTheirs with { IdsMatchPtm = true });

        log($"  tokenizers: training a {c.WordPieceVocabSize}-token WordPiece vocabulary on the corpus (untimed) ...");
        var wordPiece = WordPieceTokenizer.Train(lines, c.WordPieceVocabSize, doLowerCase: true);
        string dir = Path.Combine(Path.GetTempPath(), $"ptm-bench-wordpiece-{Guid.NewGuid():N}");
        try
        {
            wordPiece.Save(dir);
            // BERT's uncased recipe: lower-case and strip accents, as our doLowerCase does.
            var bert = BertTokenizer.Create(Path.Combine(dir, WordPieceTokenizer.VocabFileName),
                new BertOptions { LowerCaseBeforeTokenization = true, RemoveNonSpacingMarks = true });
            int[] TheirsWordPiece(string l) => bert.EncodeToIds(l, addSpecialTokens: false, considerPreTokenization: true, considerNormalization: true).ToArray();
            log("  tokenizers: WordPiece, Ptm vs Microsoft.ML.Tokenizers BertTokenizer ...");
            var wpOurs = Time(TokenizerCase.WordPiece, "Ptm WordPieceTokenizer", lines, bytes, c.Repetitions, wordPiece.Encode);
            var wpTheirs = Time(TokenizerCase.WordPiece, "Microsoft.ML.Tokenizers BertTokenizer", lines, bytes, c.Repetitions, TheirsWordPiece);
            AssertSameIds(wpOurs, wpTheirs, lines, wordPiece.Encode, TheirsWordPiece);
            results.Add(wpOurs);
            results.Add(wpTheirs with { IdsMatchPtm = true });
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }

        log("  tokenizers: BPE (GPT-2 vocabulary) in node (js-tiktoken, gpt-3-encoder) ...");
        var node = NodeTokenizerPeer.Run(c, bpeOurs);
        results.AddRange(node.Results);
        notes.AddRange(node.Notes);
        return new TokenizerSection(Path.GetFileName(c.CorpusPath), bytes, lines.Length, results, notes);
    }

    /// <summary>The corpus split at '\n' (a trailing '\r' dropped, no final empty line), as the node peer splits it.</summary>
    public static string[] ReadLines(string path, long? maxBytes)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: tokenizer corpus not found");
        string text = File.ReadAllText(path, Encoding.UTF8);
        var lines = new List<string>();
        long bytes = 0;
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.EndsWith('\r') ? raw[..^1] : raw;
            bytes += Encoding.UTF8.GetByteCount(line);
            if (maxBytes is long max && bytes > max) break;
            lines.Add(line);
        }
        if (lines.Count > 0 && lines[^1].Length == 0 && text.EndsWith('\n')) lines.RemoveAt(lines.Count - 1);
        if (lines.Count == 0) throw new InvalidInputException($"{path}: tokenizer corpus is empty");
        return [.. lines];
    }

    /// <summary>One cold pass (fills caches, gives the checksum), then <paramref name="repetitions"/> timed passes.</summary>
    public static TokenizerMeasurement Time(string tokenizer, string implementation, string[] lines, long bytes, int repetitions, Func<string, int[]> encode)
    {
        var checksum = new IdChecksum();
        var clock = Stopwatch.StartNew();
        foreach (string line in lines) checksum.AddLine(encode(line));
        double first = clock.Elapsed.TotalSeconds;
        var times = new List<double>(repetitions);
        long sink = 0;
        for (int r = 0; r < repetitions; r++)
        {
            clock.Restart();
            foreach (string line in lines) sink += encode(line).Length;
            times.Add(clock.Elapsed.TotalSeconds);
        }
        if (sink != checksum.Tokens * repetitions) throw new InvalidOperationException($"{implementation} is not deterministic");
        double best = times.Min(), median = Median(times);
        return new TokenizerMeasurement(tokenizer, implementation, ".NET " + Environment.Version, lines.Length, bytes, checksum.Tokens,
            checksum.ToString(), repetitions, first, best, median, bytes / median / 1e6, bytes / best / 1e6, bytes / first / 1e6);
    }

    /// <summary>The comparison is only fair when both sides produce the same ids; names the first line that differs.</summary>
    static void AssertSameIds(TokenizerMeasurement ours, TokenizerMeasurement theirs, string[] lines, Func<string, int[]> encodeOurs, Func<string, int[]> encodeTheirs)
    {
        if (ours.Tokens == theirs.Tokens && ours.IdsChecksum == theirs.IdsChecksum) return;
        for (int i = 0; i < lines.Length; i++)
        {
            int[] a = encodeOurs(lines[i]), b = encodeTheirs(lines[i]);
            if (!a.AsSpan().SequenceEqual(b))
                throw new InvalidOperationException($"{ours.Tokenizer}: {theirs.Implementation} and {ours.Implementation} give different ids " +
                    $"on line {i + 1} ({Preview(lines[i])}): [{string.Join(' ', b.Take(12))}] vs [{string.Join(' ', a.Take(12))}]; the throughput comparison would not be like for like");
        }
        throw new InvalidOperationException($"{ours.Tokenizer}: checksums differ but no line does");
    }

    static string Preview(string line) => line.Length <= 60 ? $"\"{line}\"" : $"\"{line[..57]}...\"";

    static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
