using System.Text.Json.Nodes;
using Ptm.Distributed;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

/// <summary>What differs between `ptm pretrain gpt` and `ptm pretrain bert`: the config file's sections, the library
/// recipe to call and the final report. <see cref="PretrainCommand"/> does the rest (flags, progress, Ctrl-C, loss plot).</summary>
interface IPretrainFamily
{
    /// <summary>"gpt" or "bert": the subcommand and the run folder's name prefix.</summary>
    string Name { get; }

    string DefaultConfig { get; }

    void ApplyOverrides(JsonObject config, IEnumerable<string> assignments);

    /// <summary>Reads a run config (checked whole, with messages naming <paramref name="source"/> and its fields).</summary>
    void Validate(JsonObject config, string source);

    /// <summary>Starts a new run with the library recipe (data-parallel with <paramref name="group"/> when not null).</summary>
    PretrainingRun Start(JsonObject config, string source, PretrainingCorpus corpus, RunFolder runFolder, Action<string> log, IProcessGroup? group);

    /// <summary>Continues a run folder with the library recipe (data-parallel with <paramref name="group"/> when not null).</summary>
    PretrainingRun Resume(JsonObject config, string source, string runDir, IProcessGroup? group);

    /// <summary>Final figures and examples after a completed run.</summary>
    void Report(PretrainingRun run, EvalReport? lastEval, int samples);
}
