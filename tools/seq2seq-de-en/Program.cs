// The German→English experiment of docs/results.md, through the library:
//   corpus   <train.csv> <validation.csv> <out folder>   the task's sources and targets as two monolingual texts
//            (German block, blank line, English block) in train.txt / validation.txt, for `ptm pretrain seq2seq`
//   fertility <tokenizer folder>...   tokens per word of the test split's German and English under each vocabulary
//   finetune <model or run folder> <out folder> [--scratch] [--epochs N] [--lr X] [--batch N] [--seed N] [--limit N] [--validation-beam]
//            fine-tunes on data/tasks/de-en/train.csv (from the checkpoint, or with --scratch from a random
//            initialisation of the same config and tokenizer), then scores validation and test, greedy and beam 4.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ptm;
using Ptm.Evaluation;
using Ptm.FineTuning;
using Ptm.Generation;
using Ptm.Modeling;
using static TorchSharp.torch;

const string Task = "data/tasks/de-en";
if (args.Length >= 4 && args[0] == "corpus")
{
    Directory.CreateDirectory(args[3]);
    foreach (var (csv, name) in new[] { (args[1], "train.txt"), (args[2], "validation.txt") })
    {
        var pairs = TaskFile.ReadSeq2Seq(csv);
        File.WriteAllText(Path.Combine(args[3], name),
            string.Join("\n", pairs.Select(p => p.Source)) + "\n\n" + string.Join("\n", pairs.Select(p => p.Target)) + "\n");
        Console.WriteLine($"{name}: {pairs.Count} German and {pairs.Count} English sentences from {csv}");
    }
    return 0;
}
if (args.Length >= 2 && args[0] == "fertility")
{
    // Tokens per whitespace-separated word of the test split's German sources and English targets, per vocabulary.
    var pairs = TaskFile.ReadSeq2Seq(Path.Combine(Task, "test.csv"));
    foreach (string dir in args.Skip(1))
    {
        var vocabulary = Ptm.Tokenization.TokenizerFiles.Load(dir);
        double Rate(IEnumerable<string> texts) => (double)texts.Sum(t => vocabulary.Encode(t).Length) / texts.Sum(t => t.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        Console.WriteLine($"{dir}: German {Rate(pairs.Select(p => p.Source)):F2}, English {Rate(pairs.Select(p => p.Target!)):F2} tokens per word");
    }
    return 0;
}
if (args.Length < 3 || args[0] != "finetune")
{
    Console.Error.WriteLine("usage: corpus <train.csv> <validation.csv> <out> | finetune <model> <out> [--scratch] [--epochs N] [--lr X] [--batch N] [--seed N]");
    return 2;
}
string modelPath = args[1], outDir = args[2];
bool scratch = args.Contains("--scratch");
string Arg(string name, string fallback) => Array.IndexOf(args, name) is int i && i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
int epochs = int.Parse(Arg("--epochs", "5"), CultureInfo.InvariantCulture);
double lr = double.Parse(Arg("--lr", "5e-4"), CultureInfo.InvariantCulture);
int batch = int.Parse(Arg("--batch", "32"), CultureInfo.InvariantCulture);
long seed = long.Parse(Arg("--seed", "1"), CultureInfo.InvariantCulture);
int limit = int.Parse(Arg("--limit", "0"), CultureInfo.InvariantCulture); // 0: every training pair; N: the first N

var (model, tokenizer) = ModelFolder.LoadBart(modelPath);
if (scratch)
{
    // Same config and tokenizer, weights drawn afresh: the control for what pre-training adds.
    var config = model.Config;
    model.Dispose();
    manual_seed(seed);
    model = new BartForConditionalGeneration(config);
}
var train = TaskFile.ReadSeq2Seq(Path.Combine(Task, "train.csv"));
if (limit > 0) train = train.Take(limit).ToList();
var options = new Seq2SeqTrainingOptions
{
    Epochs = epochs, BatchSize = batch, LearningRate = lr, WeightDecay = 0.01, LabelSmoothing = 0.1,
    MaxSourceLength = 64, MaxTargetLength = 64, Seed = seed,
};
Directory.CreateDirectory(outDir);
var clock = Stopwatch.StartNew();
Console.WriteLine($"{(scratch ? "from scratch" : "from " + modelPath)}: {model.ParameterCount():N0} parameters, {train.Count} pairs, {epochs} epochs, batch {batch}, lr {lr}");
var losses = Seq2SeqFineTuning.Train(model, tokenizer, train, options,
    (epoch, loss) => Console.WriteLine($"epoch {epoch}  loss {loss:F4}  {clock.Elapsed.TotalMinutes:F1} min"));
ModelFolder.SaveModel(Path.Combine(outDir, "model"), model, tokenizer);

var results = new Dictionary<string, object> { ["model"] = modelPath, ["scratch"] = scratch, ["epochs"] = epochs, ["lr"] = lr, ["batch"] = batch, ["seed"] = seed, ["train_pairs"] = train.Count, ["train_losses"] = losses, ["train_minutes"] = clock.Elapsed.TotalMinutes };
StepSearch beam4 = (decoder, max, eos) => BeamSearch.Run(decoder, new BeamSearchOptions { NumBeams = 4, MaxNewTokens = max, EosTokenId = eos }).Select(h => h[0].Tokens).ToArray();
foreach (string split in new[] { "validation", "test" })
{
    var pairs = TaskFile.ReadSeq2Seq(Path.Combine(Task, split + ".csv"));
    var sources = pairs.Select(p => p.Source).ToList();
    var references = pairs.Select(p => p.Target!).ToList();
    foreach (var (name, search) in new[] { ("greedy", (StepSearch?)null), ("beam4", beam4) })
    {
        if (name == "beam4" && split == "validation" && !args.Contains("--validation-beam")) continue;
        var t = Stopwatch.StartNew();
        var outputs = Seq2SeqFineTuning.Predict(model, tokenizer, sources, maxNewTokens: 64, maxSourceLength: 64, batchSize: 32, search: search);
        double bleu = Bleu.Corpus(outputs, references).Score, chrf = ChrF.Corpus(outputs, references);
        results[$"{split}_{name}_bleu"] = bleu;
        results[$"{split}_{name}_chrf"] = chrf;
        File.WriteAllLines(Path.Combine(outDir, $"{split}.{name}.txt"), outputs);
        Console.WriteLine($"{split,-10} {name,-6}  BLEU {bleu:F2}  chrF {chrf:F2}  ({t.Elapsed.TotalSeconds:F0} s)");
    }
}
File.WriteAllText(Path.Combine(outDir, "results.json"), JsonSerializer.Serialize(results, new JsonSerializerOptions { WriteIndented = true }) + "\n");
model.Dispose();
return 0;
