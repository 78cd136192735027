using System.Text.Json.Nodes;
using Ptm.Distributed;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

/// <summary>`ptm pretrain seq2seq`: BART denoising pre-training of an encoder–decoder (model, tokenizer, data and
/// training sections); the run's checkpoints are BART model folders for `ptm finetune --task seq2seq`.</summary>
sealed class Seq2SeqFamily : IPretrainFamily
{
    public string Name => "seq2seq";
    public string DefaultConfig => "configs/bart-kjv.json";

    public void ApplyOverrides(JsonObject config, IEnumerable<string> assignments) => BartRunConfig.ApplyOverrides(config, assignments);

    public void Validate(JsonObject config, string source) => Options(config, source);

    static BartPretrainingOptions Options(JsonObject config, string source) =>
        BartPretrainingOptions.From(BartRunConfig.FromNode(config.DeepClone().AsObject(), source), vocabSizeFromTokenizer: config["model"]?["vocab_size"] is null);

    public PretrainingRun Start(JsonObject config, string source, PretrainingCorpus corpus, RunFolder runFolder, Action<string> log, IProcessGroup? group) =>
        Ptm.Training.Pretraining.Bart(corpus, Options(config, source), runFolder, log, group);

    public PretrainingRun Resume(JsonObject config, string source, string runDir, IProcessGroup? group) =>
        Ptm.Training.Pretraining.ResumeBart(runDir, Options(config, source), processGroup: group);

    public void Report(PretrainingRun run, EvalReport? lastEval, int samples)
    {
        var bart = (BartPretraining)run;
        if (lastEval is { } e)
            Console.WriteLine($"validation denoising loss {e.Loss:F4} (perplexity {e.Metrics["ppl"]:F2}, token accuracy {e.Metrics["acc"]:P1})");
        if (samples <= 0) return;
        Console.WriteLine();
        Console.WriteLine("reconstructions of held-out text (greedy decoding of the noised input):");
        foreach (var (original, noised, output) in bart.Denoising.Reconstruct(samples))
        {
            Console.WriteLine($"  original: {original}");
            Console.WriteLine($"  noised:   {noised}");
            Console.WriteLine($"  output:   {output}");
            Console.WriteLine();
        }
    }
}
