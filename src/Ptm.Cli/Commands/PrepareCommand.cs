using System.CommandLine;
using System.Diagnostics;
using Ptm.Data;
using Ptm.Tokenization;
using Ptm.Training;

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
        var objective = new Option<string>("--objective") { Description = "lm (GPT token shards), or BERT instances: mlm-nsp, mlm-sop, mlm (RoBERTa full sentences)", DefaultValueFactory = _ => "lm" };
        var maxSeq = new Option<int>("--max-seq-length") { Description = "BERT: tokens per instance", DefaultValueFactory = _ => 128 };
        var dupe = new Option<int>("--dupe-factor") { Description = "BERT: passes over the corpus with different pairs and masks", DefaultValueFactory = _ => 5 };
        var masking = new Option<string>("--masking") { Description = "BERT: static (stored masks) or dynamic (drawn per batch)", DefaultValueFactory = _ => "static" };
        var wholeWord = new Option<bool>("--whole-word-masking") { Description = "BERT: mask whole words (a token and its ## pieces)" };
        var cased = new Option<bool>("--cased") { Description = "WordPiece: keep case and accents" };
        var unit = new Option<string?>("--masking-unit") { Description = "BERT: token, whole-word, phrase (frequent n-grams by PMI) or entity (capitalised names): what one masked choice covers (default: by --whole-word-masking)" };
        var command = new Command("prepare", "Tokenize text into memory-mapped token shards (GPT) or masked-LM instances (BERT) with a JSON manifest")
        {
            input, output, validation, fraction, tokenizer, vocabSize, seed, force, objective, maxSeq, dupe, masking, wholeWord, cased,
        };
        command.Options.Add(unit);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            var clock = Stopwatch.StartNew();
            if (r.GetValue(validation) is null && r.GetValue(fraction) is var f && !(f > 0 && f < 1))
                throw new InvalidInputException($"--validation-fraction must be between 0 and 1 exclusive (got {f})");
            var options = CorpusTokenizer.Options(r.GetValue(input)!, r.GetValue(validation), r.GetValue(fraction), (ulong)r.GetValue(seed));
            var prepare = new PrepareOptions(r.GetValue(output)!, r.GetValue(force));
            string obj = r.GetValue(objective)!;
            if (obj == "lm")
            {
                Print(Run(options, r.GetValue(tokenizer)!, r.GetValue(vocabSize), prepare), clock.Elapsed);
                return 0;
            }
            string pairTask = obj switch
            {
                "mlm-nsp" => "nsp",
                "mlm-sop" => "sop",
                "mlm" => "none",
                _ => throw new InvalidInputException($"--objective must be lm, mlm-nsp, mlm-sop or mlm (got \"{obj}\")"),
            };
            var spec = new BertDataSpec
            {
                MaxSeqLength = r.GetValue(maxSeq), DupeFactor = r.GetValue(dupe), Masking = r.GetValue(masking)!,
                WholeWordMasking = r.GetValue(wholeWord), PairTask = pairTask, MaskingUnit = r.GetValue(unit),
            };
            string tok = r.GetValue(tokenizer)!;
            var result = RunBert(options, tok == "bpe" ? "wordpiece" : tok, r.GetValue(vocabSize), !r.GetValue(cased), spec.ToOptions("prepare"), prepare);
            PrintBert(result, clock.Elapsed);
            return 0;
        }));
        return command;
    }

    /// <summary>BERT instances: trains a WordPiece vocabulary on the training split (or reuses a folder's).</summary>
    static BertPrepareResult RunBert(CorpusOptions corpusOptions, string tokenizerSpec, int vocabSize, bool doLowerCase, BertDataOptions data, PrepareOptions prepare)
    {
        var corpus = Corpus.Load(corpusOptions);
        WordPieceTokenizer tokenizer = Directory.Exists(tokenizerSpec)
            ? TokenizerFiles.Load(tokenizerSpec) as WordPieceTokenizer ?? throw new InvalidInputException($"{tokenizerSpec}: BERT data needs a WordPiece vocabulary (vocab.txt or tokenizer.json)")
            : tokenizerSpec == "wordpiece"
                ? WordPieceTokenizer.Train(corpus.Train.Select(d => d.Text), vocabSize, doLowerCase)
                : throw new InvalidInputException($"--tokenizer for BERT data must be wordpiece or a folder with vocab.txt (got \"{tokenizerSpec}\")");
        return BertPretrainingPreparer.Prepare(MaskingVocabulary.FromWordPiece(tokenizer), corpus, data, prepare);
    }

    static void PrintBert(BertPrepareResult result, TimeSpan elapsed)
    {
        foreach (string line in result.Summary(elapsed)) Console.WriteLine(line);
    }

    static PrepareResult Run(CorpusOptions corpusOptions, string tokenizerSpec, int vocabSize, PrepareOptions prepare)
    {
        var corpus = Corpus.Load(corpusOptions);
        ITokenizer tokenizer = Directory.Exists(tokenizerSpec)
            ? TokenizerFiles.Load(tokenizerSpec)
            : CorpusTokenizer.Train(tokenizerSpec, vocabSize, corpus);
        return Preparer.Prepare(tokenizer, corpus, prepare);
    }

    static void Print(PrepareResult result, TimeSpan elapsed)
    {
        foreach (string line in result.Summary(elapsed)) Console.WriteLine(line);
    }
}
