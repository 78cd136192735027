using System.Text;
using Ptm.Data;
using Ptm.Fuzz;
using Ptm.HuggingFace;
using Ptm.Tokenization;
using SharpFuzz;
using static TorchSharp.torch;

// Ptm.Fuzz TARGET          run under afl-fuzz (fuzz/run.sh): one input per iteration from AFL's shared memory
// Ptm.Fuzz seeds DIR       write each target's seed corpus, made from the repo's real files, into DIR/TARGET/
// Ptm.Fuzz replay TARGET FILE...   run inputs once, in process, printing what each did (for triage)
// Ptm.Fuzz hostile [NAME]  the hostile-size cases (HostileInputs), each in a fresh process: refusal and peak memory
// (replay and hostile need the uninstrumented build, fuzz/Ptm.Fuzz/bin/Release)
if (args.Length == 0 || (args[0] is not ("seeds" or "replay" or "hostile") && !FuzzTargets.All.ContainsKey(args[0])))
{
    Console.Error.WriteLine($"usage: Ptm.Fuzz TARGET | seeds DIR | replay TARGET FILE... | hostile [NAME]; targets: {string.Join(", ", FuzzTargets.All.Keys)}");
    return 2;
}
string scratch = Path.Combine(Path.GetTempPath(), $"ptm-fuzz-{Environment.ProcessId}");
try
{
    switch (args[0])
    {
        case "seeds":
            Seeds.Write(args[1]);
            return 0;
        case "hostile" when args.Length == 1:
            foreach (var c in HostileInputs.All)
            {
                var child = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Environment.ProcessPath!)
                {
                    ArgumentList = { typeof(Seeds).Assembly.Location, "hostile", c.Name },
                    RedirectStandardOutput = true,
                })!;
                string line = child.StandardOutput.ReadToEnd().Trim();
                child.WaitForExit();
                Console.WriteLine(line.Length > 0 ? line : $"{c.Name}: child exited with {child.ExitCode}");
            }
            return 0;
        case "hostile":
        {
            var c = HostileInputs.All.Single(h => h.Name == args[1]);
            Directory.CreateDirectory(scratch);
            var (message, peak) = HostileInputs.Measure(c, scratch);
            string verdict = (c.Expected, message) switch
            {
                (null, null) => "accepted",
                (null, _) => "REFUSED",
                (_, null) => "NOT REFUSED",
                _ => message.Contains(c.Expected) ? "refused" : "refused, unexpected message",
            };
            Console.WriteLine($"{c.Name}\tpeak +{peak:F1} MiB\t{verdict}: {message}");
            return 0;
        }
        case "replay":
            foreach (string file in args.Skip(2))
            {
                try
                {
                    FuzzTargets.Run(args[1], File.ReadAllBytes(file), scratch);
                    Console.WriteLine($"{file}: {(FuzzTargets.LastRefusal is { } refusal ? "refused: " + refusal : "loaded")}");
                }
                catch (Exception e)
                {
                    Console.WriteLine($"{file}: {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
                    Console.WriteLine(e.StackTrace);
                }
            }
            return 0;
        default:
            string target = args[0];
            Fuzzer.Run(stream =>
            {
                var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                FuzzTargets.Run(target, buffer.GetBuffer().AsSpan(0, (int)buffer.Length), scratch);
            });
            return 0;
    }
}
finally
{
    if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
}

/// <summary>Seed corpora made from the repository's real files: small but valid inputs for every target.</summary>
static class Seeds
{
    public static void Write(string root)
    {
        string repo = FuzzTargets.RepoRoot();
        string fixtures = Path.Combine(repo, "tests", "Ptm.Tests", "fixtures");
        string kjv = File.ReadAllText(Path.Combine(repo, "data", "kjv", "train.txt"));
        string[] verses = kjv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(400).ToArray();
        string work = Path.Combine(root, ".work");
        Directory.CreateDirectory(work);

        // safetensors: small files of several dtypes (the fixtures' checkpoints are too large for afl-fuzz to mutate well).
        Save(root, "safetensors", "small", SafeTensorsBytes(work, ("a", ones(2, 3)), ("b", arange(5, ScalarType.Int64)), ("c", tensor(new[] { true, false }))));
        Save(root, "safetensors", "half", SafeTensorsBytes(work, ("w", ones(4, ScalarType.Float16)), ("v", zeros(2, 2, ScalarType.BFloat16))));
        Save(root, "safetensors", "empty-tensor", SafeTensorsBytes(work, ("e", zeros(0, 3))));

        // sharded: an index and two shards.
        byte[] shard1 = SafeTensorsBytes(work, ("a", ones(2, 2))), shard2 = SafeTensorsBytes(work, ("b", arange(3, ScalarType.Int32)));
        string index = """{"metadata": {"total_size": 28}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}""";
        Save(root, "safetensors-index", "two-shards", Join(Encoding.UTF8.GetBytes(index), shard1, shard2));

        // configs: Hugging Face config.json files and our run configs.
        foreach (string f in new[] { "hf/gpt2/config.json", "hf/bert/config.json" })
            Save(root, "config", f.Split('/')[1], File.ReadAllBytes(Path.Combine(fixtures, f)));
        foreach (string f in Directory.GetFiles(Path.Combine(repo, "configs"), "*.json"))
            Save(root, "config", Path.GetFileNameWithoutExtension(f), File.ReadAllBytes(f));

        // tokenizers: the fixtures, plus tiny trained ones saved in every layout.
        Save(root, "tokenizer-json", "bpe", File.ReadAllBytes(Path.Combine(fixtures, "bpe", "tokenizer.json")));
        Save(root, "tokenizer-json", "wordpiece", File.ReadAllBytes(Path.Combine(fixtures, "wordpiece", "tokenizer.json")));
        var bpe = ByteLevelBpeTokenizer.Train(verses.Take(50), 300, [ByteLevelBpeTokenizer.EndOfText]);
        string bpeDir = Fresh(work, "bpe");
        bpe.Save(bpeDir);
        Save(root, "tokenizer-json", "trained-bpe", File.ReadAllBytes(Path.Combine(bpeDir, "tokenizer.json")));
        Save(root, "bpe-files", "trained", Join(File.ReadAllBytes(Path.Combine(bpeDir, "vocab.json")), File.ReadAllBytes(Path.Combine(bpeDir, "merges.txt"))));
        Save(root, "bpe-files", "hf-gpt2", Join(File.ReadAllBytes(Path.Combine(fixtures, "hf", "gpt2", "vocab.json")), File.ReadAllBytes(Path.Combine(fixtures, "hf", "gpt2", "merges.txt"))));
        var wordPiece = WordPieceTokenizer.Train(verses.Take(50), 200, doLowerCase: true);
        string wpDir = Fresh(work, "wordpiece");
        wordPiece.Save(wpDir);
        Save(root, "tokenizer-json", "trained-wordpiece", File.ReadAllBytes(Path.Combine(wpDir, "tokenizer.json")));
        Save(root, "vocab-txt", "trained", Join(File.ReadAllBytes(Path.Combine(wpDir, "vocab.txt")), File.ReadAllBytes(Path.Combine(wpDir, "tokenizer_config.json"))));
        Save(root, "vocab-txt", "hf-bert", Join(File.ReadAllBytes(Path.Combine(fixtures, "hf", "bert", "vocab.txt")), File.ReadAllBytes(Path.Combine(fixtures, "hf", "bert", "tokenizer_config.json"))));
        string charDir = Fresh(work, "char");
        CharTokenizer.Train(string.Join("\n", verses.Take(20))).Save(charDir);
        Save(root, "char-vocab", "kjv", File.ReadAllBytes(Path.Combine(charDir, CharTokenizer.FileName)));

        // task files: the head of every task file in data/tasks, and TSV copies of the CSV ones.
        foreach (string f in Directory.GetFiles(Path.Combine(repo, "data", "tasks"), "*.*", SearchOption.AllDirectories))
        {
            string ext = Path.GetExtension(f);
            if (ext is not ".csv" and not ".jsonl") continue;
            string name = $"{Path.GetFileName(Path.GetDirectoryName(f))}-{Path.GetFileNameWithoutExtension(f)}";
            string head = string.Join("\n", File.ReadLines(f).Take(8)) + "\n";
            Save(root, ext == ".csv" ? "task-csv" : "task-jsonl", name, Encoding.UTF8.GetBytes(head));
            if (ext == ".csv" && !head.Contains('"'))
                Save(root, "task-tsv", name, Encoding.UTF8.GetBytes(head.Replace(',', '\t')));
        }

        // prepared data: a GPT folder (char tokenizer) and a BERT folder (tiny WordPiece), both of a few verses.
        string corpusFile = Path.Combine(work, "corpus.txt");
        File.WriteAllText(corpusFile, string.Join("\n", verses.Take(3)) + "\n");
        var corpus = Corpus.Load(new CorpusOptions(corpusFile, corpusFile));
        string gptData = Fresh(work, "gpt-data");
        Preparer.Prepare(CharTokenizer.Train(File.ReadAllText(corpusFile)), corpus, new PrepareOptions(gptData, Force: true));
        Save(root, "data", "gpt-char", Join(File.ReadAllBytes(Path.Combine(gptData, DataManifest.FileName)),
            File.ReadAllBytes(Path.Combine(gptData, "train.bin")), File.ReadAllBytes(Path.Combine(gptData, "validation.bin"))));
        string bertData = Fresh(work, "bert-data");
        BertPretrainingPreparer.Prepare(MaskingVocabulary.FromWordPiece(wordPiece), corpus,
            new BertDataOptions(MaxSeqLength: 16, DupeFactor: 1) { Mlm = new MlmOptions(MaxPredictionsPerSeq: 3) }, new PrepareOptions(bertData, Force: true));
        var bertManifest = BertDataManifest.Load(bertData);
        byte[] bertTrain = File.ReadAllBytes(Path.Combine(bertData, bertManifest.Splits["train"].File));
        Save(root, "data", "bert-wordpiece", Join(File.ReadAllBytes(Path.Combine(bertData, DataManifest.FileName)), [], [], bertTrain));

        // encode: text of every script the tokenizers meet, with specials and odd whitespace.
        Save(root, "encode", "kjv", Encoding.UTF8.GetBytes(string.Join("\n", verses.Take(3))));
        Save(root, "encode", "mixed", Encoding.UTF8.GetBytes("naïve café 東京 ☃ 😀 <|endoftext|> [CLS] don't  \t\r\n ##ing"));
        Save(root, "encode", "utf16", Encoding.Unicode.GetBytes("a\ud800b \udfff 😀"));
        Directory.Delete(work, recursive: true);
    }

    static string Fresh(string work, string name)
    {
        string dir = Path.Combine(work, name);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        return dir;
    }

    static byte[] SafeTensorsBytes(string work, params (string Name, Tensor Value)[] tensors)
    {
        string path = Path.Combine(work, "seed.safetensors");
        SafeTensorsWriter.Write(path, tensors.Select(t => KeyValuePair.Create(t.Name, t.Value)));
        return File.ReadAllBytes(path);
    }

    static byte[] Join(params byte[][] parts)
    {
        var result = new List<byte>();
        for (int i = 0; i < parts.Length; i++)
        {
            if (i > 0) result.AddRange(FuzzTargets.Separator);
            result.AddRange(parts[i]);
        }
        return result.ToArray();
    }

    static void Save(string root, string target, string name, byte[] bytes)
    {
        string dir = Path.Combine(root, target);
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, name), bytes);
    }
}
