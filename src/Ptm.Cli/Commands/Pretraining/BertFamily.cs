using System.Text.Json.Nodes;
using Ptm.Generation;
using Ptm.Distributed;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

sealed class BertFamily : IPretrainFamily
{
    static readonly string[] FillMaskExamples =
    [
        "In the beginning God created the [MASK] and the earth.",
        "And God said, Let there be [MASK]: and there was light.",
        "The LORD is my [MASK]; I shall not want.",
    ];

    public string Name => "bert";
    public string DefaultConfig => "configs/bert-kjv.json";

    public void ApplyOverrides(JsonObject config, IEnumerable<string> assignments) => BertRunConfig.ApplyOverrides(config, assignments);

    public void Validate(JsonObject config, string source) => Options(config, source);

    static BertPretrainingOptions Options(JsonObject config, string source) =>
        BertPretrainingOptions.From(BertRunConfig.FromNode(config.DeepClone().AsObject(), source), vocabSizeFromTokenizer: config["model"]?["vocab_size"] is null);

    public PretrainingRun Start(JsonObject config, string source, PretrainingCorpus corpus, RunFolder runFolder, Action<string> log, IProcessGroup? group) =>
        Ptm.Training.Pretraining.Bert(corpus, Options(config, source), runFolder, log, group);

    public PretrainingRun Resume(JsonObject config, string source, string runDir, IProcessGroup? group) =>
        Ptm.Training.Pretraining.ResumeBert(runDir, Options(config, source), processGroup: group);

    public void Report(PretrainingRun run, EvalReport? lastEval, int samples)
    {
        var bert = (BertPretraining)run;
        if (lastEval is { } e)
        {
            string pair = e.Metrics.TryGetValue("pair_acc", out var acc) ? $", {bert.Manifest.Objective[4..].ToUpperInvariant()} accuracy {acc:P1}" : "";
            Console.WriteLine($"validation MLM accuracy {e.Metrics["mlm_acc"]:P1} (loss {e.Metrics["mlm_loss"]:F4}){pair}");
            double baseline = bert.UnigramBaseline(bert.Training.EvalIters);
            Console.WriteLine($"unigram baseline (always the most frequent training token) on the same masked positions: {baseline:P1}");
        }
        if (bert.Manifest.Source.Validation is { } heldOut && File.Exists(heldOut))
        {
            var m = MaskedWordEvaluation.Evaluate(bert.Model, bert.WordPiece, File.ReadLines(heldOut));
            Console.WriteLine($"held-out {heldOut}, 15% of words masked whole: word accuracy {m.WordAccuracy:P1} ({m.Words} words), "
                + $"content-word accuracy {m.ContentAccuracy:P1} ({m.ContentWords} content words)");
        }
        if (samples <= 0) return;
        Console.WriteLine();
        Console.WriteLine("fill-mask:");
        var filler = new MaskFiller(bert.Model, bert.WordPiece);
        foreach (string text in FillMaskExamples.Take(samples))
        {
            var top = filler.Fill(text, 5)[0];
            Console.WriteLine($"> {text}");
            Console.WriteLine($"  {string.Join("  ", top.Select(c => $"{c.Token} {c.Probability:P1}"))}");
        }
    }
}
