using System.Text.Json.Nodes;
using Ptm.Distributed;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

/// <summary>`ptm pretrain electra`: BERT's config sections and data preparation plus an <c>electra</c> section; the run's
/// checkpoints are BERT model folders of the discriminator.</summary>
sealed class ElectraFamily : IPretrainFamily
{
    public string Name => "electra";
    public string DefaultConfig => "configs/electra-kjv.json";

    public void ApplyOverrides(JsonObject config, IEnumerable<string> assignments) =>
        RunConfigFile.ApplyOverrides(config, assignments, [.. ElectraPretrainingOptions.Sections]);

    public void Validate(JsonObject config, string source) => Options(config, source);

    static ElectraPretrainingOptions Options(JsonObject config, string source) =>
        ElectraPretrainingOptions.FromNode(config, source, vocabSizeFromTokenizer: config["model"]?["vocab_size"] is null);

    public PretrainingRun Start(JsonObject config, string source, PretrainingCorpus corpus, RunFolder runFolder, Action<string> log, IProcessGroup? group) =>
        Ptm.Training.Pretraining.Electra(corpus, Options(config, source), runFolder, log, group);

    public PretrainingRun Resume(JsonObject config, string source, string runDir, IProcessGroup? group) =>
        Ptm.Training.Pretraining.ResumeElectra(runDir, Options(config, source), processGroup: group);

    public void Report(PretrainingRun run, EvalReport? lastEval, int samples)
    {
        if (lastEval is not { } e) return;
        Console.WriteLine($"validation generator MLM accuracy {e.Metrics["mlm_acc"]:P1} (loss {e.Metrics["mlm_loss"]:F4}), "
            + $"discriminator RTD accuracy {e.Metrics["rtd_acc"]:P1} (loss {e.Metrics["rtd_loss"]:F4}) with {e.Metrics["replaced"]:P1} of tokens replaced");
        Console.WriteLine($"generator masked-word accuracy {e.Metrics["word_acc"]:P1}, content-word accuracy {e.Metrics["content_acc"]:P1} (the discriminator has no trained MLM head)");
        Console.WriteLine("the discriminator is saved as a BERT model folder: fine-tune or embed it with --model (its MLM head is untrained)");
    }
}
