using System.CommandLine;
using System.Diagnostics;
using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Cli.Commands;

static class PrepareCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "text: a file, a folder of .txt files, or a glob (a folder with train.txt and validation.txt uses those splits)" };
        var output = new Option<string>("--out") { Description = "folder for the token shards, manifest and tokenizer", Required = true };
        var validation = new Option<string?>("--validation") { Description = "separate validation text (file, folder or glob)" };
        var fraction = new Option<double>("--validation-fraction") { Description = "share of documents held out when --validation is not given", DefaultValueFactory = _ => 0.1 };
        var tokenizer = new Option<string>("--tokenizer") { Description = "\"bpe\" (train byte-level BPE), \"char\", or a folder with tokenizer files to reuse", DefaultValueFactory = _ => "bpe" };
        var vocabSize = new Option<int>("--vocab-size") { Description = "BPE vocabulary size, special tokens included", DefaultValueFactory = _ => 2048 };
        var seed = new Option<long>("--seed") { Description = "picks the held-out documents", DefaultValueFactory = _ => 0 };
        var force = new Option<bool>("--force") { Description = "replace an existing prepared folder" };
        var command = new Command("prepare", "Tokenize text into memory-mapped token shards with a JSON manifest")
        {
            input, output, validation, fraction, tokenizer, vocabSize, seed, force,
        };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            var clock = Stopwatch.StartNew();
            var options = CorpusTokenizer.Options(r.GetValue(input)!, r.GetValue(validation), r.GetValue(fraction), (ulong)r.GetValue(seed));
            var result = Run(options, r.GetValue(tokenizer)!, r.GetValue(vocabSize), new PrepareOptions(r.GetValue(output)!, r.GetValue(force)));
            Print(result, clock.Elapsed);
            return 0;
        }));
        return command;
    }

    public static PrepareResult Run(CorpusOptions corpusOptions, string tokenizerSpec, int vocabSize, PrepareOptions prepare)
    {
        var corpus = Corpus.Load(corpusOptions);
        ITokenizer tokenizer = Directory.Exists(tokenizerSpec)
            ? TokenizerFiles.Load(tokenizerSpec)
            : CorpusTokenizer.Train(tokenizerSpec, vocabSize, corpus);
        return Preparer.Prepare(tokenizer, corpus, prepare);
    }

    public static void Print(PrepareResult result, TimeSpan elapsed)
    {
        var m = result.Manifest;
        Console.WriteLine($"prepared {result.OutputDirectory} in {elapsed.TotalSeconds:F1} s: {m.Tokenizer.Kind} tokenizer, {m.Tokenizer.VocabSize} tokens, {m.Dtype} shards");
        foreach (var (name, split) in m.Splits)
            Console.WriteLine($"  {name,-10} {split.Documents,6} documents {split.SourceBytes,10} bytes {split.Tokens,10} tokens ({(double)split.SourceBytes / Math.Max(1, split.Tokens):F2} bytes/token)");
    }
}
