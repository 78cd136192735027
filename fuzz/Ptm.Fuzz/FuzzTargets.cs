using System.Text;
using Ptm.Data;
using Ptm.FineTuning;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;

namespace Ptm.Fuzz;

/// <summary>
/// One fuzz target per parser: each turns an arbitrary byte string into the file(s) a loader reads, runs the loader
/// and uses what it returns. The rule every target enforces is the library's: a loader either succeeds or throws
/// <see cref="InvalidInputException"/> (one line naming the file); any other exception escapes the target, and
/// afl-fuzz records the input as a crash. The same code runs in the test suite (FuzzCorpusTests), which replays
/// every stored crashing input, so a finding stays fixed.
/// </summary>
/// <remarks>
/// A target that reads several files takes them from one input split at <see cref="Separator"/> (a line of five
/// '#'), in the order of <see cref="Target.Files"/>; missing parts are not written.
/// </remarks>
public static class FuzzTargets
{
    /// <summary>Splits a multi-file input into its files.</summary>
    public static readonly byte[] Separator = "\n#####\n"u8.ToArray();

    /// <summary>A fuzz target: the files it writes from the input and what it does with them.</summary>
    /// <param name="Name">The name fuzz/run.sh and the corpus folder tests/Ptm.Tests/fixtures/fuzz/NAME use.</param>
    /// <param name="Files">File names written from the input's parts, in order.</param>
    /// <param name="Run">Loads and uses the files in the folder it is given; throws only on a finding.</param>
    public sealed record Target(string Name, string[] Files, Action<string> Run);

    /// <summary>Every target, by name.</summary>
    public static readonly IReadOnlyDictionary<string, Target> All = new Target[]
    {
        new("safetensors", ["model.safetensors"], dir => SafeTensors(Path.Combine(dir, "model.safetensors"))),
        new("safetensors-index", ["model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
            dir => SafeTensorsSharded(Path.Combine(dir, "model.safetensors.index.json"))),
        new("config", ["config.json"], dir => Config(Path.Combine(dir, "config.json"))),
        new("tokenizer-json", ["tokenizer.json"], TokenizerFolder),
        new("bpe-files", ["vocab.json", "merges.txt"], TokenizerFolder),
        new("vocab-txt", ["vocab.txt", "tokenizer_config.json"], TokenizerFolder),
        new("char-vocab", ["char_vocab.json"], TokenizerFolder),
        new("task-csv", ["task.csv"], dir => Task(Path.Combine(dir, "task.csv"))),
        new("task-tsv", ["task.tsv"], dir => Task(Path.Combine(dir, "task.tsv"))),
        new("task-jsonl", ["task.jsonl"], dir => Task(Path.Combine(dir, "task.jsonl"))),
        new("data", ["manifest.json", "train.bin", "validation.bin", "train.bert.bin"], PreparedData),
        new("encode", [], _ => { }),
    }.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>
    /// Runs <paramref name="target"/> on <paramref name="input"/> inside <paramref name="scratch"/> (emptied first).
    /// Returns normally when the loader succeeded or refused the input with <see cref="InvalidInputException"/>.
    /// </summary>
    public static void Run(string target, ReadOnlySpan<byte> input, string scratch)
    {
        if (target == "encode") { Encode(input); return; }
        var t = All[target];
        Directory.CreateDirectory(scratch);
        foreach (string file in Directory.EnumerateFiles(scratch)) File.Delete(file);
        int part = 0;
        while (part < t.Files.Length)
        {
            int cut = input.IndexOf(Separator);
            var bytes = cut < 0 || part == t.Files.Length - 1 ? input : input[..cut];
            File.WriteAllBytes(Path.Combine(scratch, t.Files[part]), bytes.ToArray());
            part++;
            if (cut < 0 || part == t.Files.Length) break;
            input = input[(cut + Separator.Length)..];
        }
        LastRefusal = null;
        try { t.Run(scratch); }
        catch (InvalidInputException e) { LastRefusal = e.Message; }
    }

    /// <summary>The message of the refusal that ended the last <see cref="Run"/> early, or null (for triage).</summary>
    [ThreadStatic] public static string? LastRefusal;

    static void SafeTensors(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        foreach (string name in file.Names)
        {
            _ = file.GetInfo(name);
            using var tensor = file.Load(name);
            using var converted = file.Load(name, TorchSharp.torch.ScalarType.Float32);
        }
    }

    static void SafeTensorsSharded(string path)
    {
        using var index = SafeTensorsIndex.Open(path);
        foreach (string name in index.Names)
        {
            _ = index.GetInfo(name);
            using var tensor = index.Load(name);
        }
    }

    /// <summary>The same bytes as a Hugging Face config.json, our model configs and both run configs.</summary>
    static void Config(string path)
    {
        Try(() => HfConfig.Load(path));
        Try(() => GptConfig.Load(path));
        Try(() => BertConfig.Load(path));
        Try(() => GptRunConfig.FromNode(RunConfigFile.ReadNode(path), path));
        Try(() => BertRunConfig.FromNode(RunConfigFile.ReadNode(path), path));
    }

    static void TokenizerFolder(string dir) => Use(TokenizerFiles.Load(dir));

    /// <summary>A tokenizer that loaded must encode and decode without surprises.</summary>
    static void Use(ITokenizer tokenizer)
    {
        foreach (string probe in Probes)
        {
            int[] ids;
            try { ids = tokenizer.Encode(probe); }
            catch (InvalidInputException) { continue; }
            CheckIds(tokenizer, ids, probe);
            _ = tokenizer.Decode(ids);
        }
    }

    static readonly string[] Probes = ["Hello, world!", "In the beginning God created the heaven and the earth.", "naïve café 東京 ☃ 😀", "<|endoftext|> [CLS] [SEP] ##s", " \t\n"];

    static void Task(string path)
    {
        foreach (var task in Enum.GetValues<FineTuneTask>())
            foreach (bool requireLabel in new[] { true, false })
                Try(() => TaskFile.Read(path, task, new TaskColumns(), requireLabel));
    }

    static void PreparedData(string dir)
    {
        foreach (string split in new[] { Preparer.TrainSplit, "validation" })
        {
            Try(() =>
            {
                using var data = TokenDataset.Open(dir, split);
                var window = new long[4096];
                for (long start = 0; start < data.Length; start += window.Length)
                    data.Read(start, window.AsSpan(0, (int)Math.Min(window.Length, data.Length - start)));
            });
            Try(() =>
            {
                using var data = BertPretrainingDataset.Open(dir, split);
                for (long i = 0; i < data.Count; i++) _ = data[i];
            });
        }
    }

    static Lazy<(string Name, ITokenizer Tokenizer)[]> fixtureTokenizers = new(LoadFixtureTokenizers);

    static (string, ITokenizer)[] LoadFixtureTokenizers()
    {
        string fixtures = Path.Combine(RepoRoot(), "tests", "Ptm.Tests", "fixtures");
        string kjv = File.ReadAllText(Path.Combine(RepoRoot(), "data", "kjv", "train.txt"));
        return
        [
            ("gpt2", ByteLevelBpeTokenizer.Load(Path.Combine(fixtures, "gpt2"))),
            ("bpe tokenizer.json", ByteLevelBpeTokenizer.LoadHuggingFaceJson(Path.Combine(fixtures, "bpe", "tokenizer.json"))),
            ("wordpiece tokenizer.json", WordPieceTokenizer.LoadHuggingFaceJson(Path.Combine(fixtures, "wordpiece", "tokenizer.json"))),
            ("bert vocab.txt", WordPieceTokenizer.Load(Path.Combine(fixtures, "hf", "bert"))),
            ("char", CharTokenizer.Train(kjv[..Math.Min(kjv.Length, 200_000)])),
        ];
    }

    /// <summary>
    /// Encode on arbitrary text: the input read as UTF-8 (invalid bytes become U+FFFD) and as UTF-16 code units
    /// (lone surrogates included). Byte-level BPE promises decode(encode(x)) == x for well-formed text and the
    /// UTF-8 bytes of x (lone surrogates as U+FFFD) for any text; the char tokenizer the same for text inside its
    /// vocabulary, and <see cref="InvalidInputException"/> otherwise; WordPiece promises ids inside the vocabulary.
    /// </summary>
    static void Encode(ReadOnlySpan<byte> input)
    {
        string utf8 = Encoding.UTF8.GetString(input);
        string utf16 = new(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(input[..(input.Length & ~1)]));
        foreach (var (name, tokenizer) in fixtureTokenizers.Value)
        {
            foreach (string text in new[] { utf8, utf16 })
            {
                int[] ids;
                try { ids = tokenizer.Encode(text); }
                catch (InvalidInputException) when (tokenizer is CharTokenizer) { continue; }
                CheckIds(tokenizer, ids, text);
                byte[] expectedBytes = Encoding.UTF8.GetBytes(text);
                if (tokenizer is ByteLevelBpeTokenizer && !tokenizer.DecodeToBytes(ids).AsSpan().SequenceEqual(expectedBytes))
                    throw new FuzzFinding($"{name}: DecodeToBytes(Encode(x)) differs from the UTF-8 bytes of x");
                if (tokenizer is ByteLevelBpeTokenizer or CharTokenizer && text == utf8 && tokenizer.Decode(ids) != text)
                    throw new FuzzFinding($"{name}: Decode(Encode(x)) != x");
                if (tokenizer is WordPieceTokenizer) _ = tokenizer.Decode(ids);
            }
        }
    }

    static void CheckIds(ITokenizer tokenizer, int[] ids, string text)
    {
        foreach (int id in ids)
            if ((uint)id >= (uint)tokenizer.VocabSize)
                throw new FuzzFinding($"{tokenizer.Kind}: id {id} outside [0, {tokenizer.VocabSize}) for text of {text.Length} chars");
    }

    /// <summary>Runs one loader, so that a refusal of one reading of the bytes does not hide the others.</summary>
    static void Try(Action action)
    {
        try { action(); }
        catch (InvalidInputException) { }
    }

    static void Try<T>(Func<T> action) => Try(() => { var result = action(); (result as IDisposable)?.Dispose(); });

    /// <summary>The folder holding Ptm.slnx, searched upwards from the running assembly.</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Ptm.slnx"))) return dir.FullName;
        throw new InvalidOperationException($"no Ptm.slnx above {AppContext.BaseDirectory}");
    }
}

/// <summary>A broken promise the fuzzer found that is not an exception of the library's own (a wrong round trip).</summary>
public sealed class FuzzFinding(string message) : Exception(message);
