using System.Text.Json.Nodes;
using Ptm.Distributed;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

/// <summary>`ptm pretrain elmo`: a forward and a backward LSTM language model over words read as characters; sections
/// model, vocabulary and training. Checkpoints are ELMo model folders for `ptm embed` and `ptm finetune`.</summary>
sealed class ElmoFamily : IPretrainFamily
{
    public string Name => "elmo";
    public string DefaultConfig => "configs/elmo-kjv.json";

    public void ApplyOverrides(JsonObject config, IEnumerable<string> assignments) =>
        RunConfigFile.ApplyOverrides(config, assignments, [.. ElmoPretrainingOptions.Sections]);

    public void Validate(JsonObject config, string source) => ElmoPretrainingOptions.FromNode(config, source);

    public PretrainingRun Start(JsonObject config, string source, PretrainingCorpus corpus, RunFolder runFolder, Action<string> log, IProcessGroup? group) =>
        Ptm.Training.Pretraining.Elmo(corpus, ElmoPretrainingOptions.FromNode(config, source), runFolder, log, group);

    public PretrainingRun Resume(JsonObject config, string source, string runDir, IProcessGroup? group) =>
        Ptm.Training.Pretraining.ResumeElmo(runDir, ElmoPretrainingOptions.FromNode(config, source), processGroup: group);

    public void Report(PretrainingRun run, EvalReport? lastEval, int samples)
    {
        if (lastEval is not { } e) return;
        var elmo = (ElmoPretraining)run;
        Console.WriteLine($"validation perplexity: forward {e.Metrics["forward_ppl"]:F2} (loss {e.Metrics["forward_loss"]:F4}), "
            + $"backward {e.Metrics["backward_ppl"]:F2} (loss {e.Metrics["backward_loss"]:F4}); "
            + $"{elmo.Data.Manifest.ValidationUnkRate:P1} of validation words are <unk> in the {elmo.Data.Vocabulary.VocabSize}-word softmax");
    }
}
