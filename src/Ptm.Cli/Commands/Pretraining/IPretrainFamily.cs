using System.Text.Json.Nodes;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

/// <summary>What differs between pre-training a GPT and a BERT; <see cref="PretrainCommand"/> does the rest
/// (run folder, config overrides, resume, Ctrl-C, progress, loss plot).</summary>
interface IPretrainFamily
{
    /// <summary>"gpt" or "bert": the subcommand and the run folder's name prefix.</summary>
    string Name { get; }

    string DefaultConfig { get; }

    void ApplyOverrides(JsonObject config, IEnumerable<string> assignments);

    /// <summary>Checks the whole config before any slow work (the vocabulary size is not known yet).</summary>
    void Validate(JsonObject config, string source);

    /// <summary>Whether <paramref name="dataSpec"/> is already a prepared folder of this family's kind.</summary>
    bool IsPrepared(string dataSpec);

    /// <summary>Trains the tokenizer and prepares raw text into <paramref name="outputDir"/>.</summary>
    void Prepare(JsonObject config, string source, string dataSpec, string outputDir);

    /// <summary>Builds model, data and objective from a validated config and a prepared folder.</summary>
    PretrainSession Open(JsonObject config, string source, string dataDir);
}

static class PreparedData
{
    /// <summary>
    /// Whether <paramref name="dataSpec"/> is a prepared folder for this family: false for raw text, true for a
    /// matching manifest, and an error for the other family's data (which raw-text handling would misread).
    /// </summary>
    public static bool Matches(string dataSpec, bool wantBert)
    {
        string manifest = Path.Combine(dataSpec, Ptm.Data.DataManifest.FileName);
        if (!Directory.Exists(dataSpec) || !File.Exists(manifest)) return false;
        bool isBert;
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(manifest));
            isBert = doc.RootElement.TryGetProperty("objective", out _);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidInputException($"{manifest}: not valid JSON ({e.Message.Split('\n')[0]})");
        }
        if (isBert != wantBert)
            throw new InvalidInputException($"{dataSpec}: holds {(isBert ? "BERT (masked-LM)" : "GPT (token shard)")} data; this command needs data prepared with --objective {(wantBert ? "mlm-nsp, mlm-sop or mlm" : "lm")}");
        return true;
    }
}

/// <summary>One run's model, data and objective, plus how to describe and report it.</summary>
abstract class PretrainSession : IDisposable
{
    public abstract ITrainingObjective Objective { get; }
    public abstract TrainingConfig Training { get; }

    /// <summary>The config as resolved (vocabulary size filled in), written to run.json.</summary>
    public abstract JsonObject ResolvedConfig { get; }

    /// <summary>config.json of the model, to compare with a checkpoint's on resume.</summary>
    public abstract string ModelConfigJson { get; }

    public abstract IEnumerable<string> Describe();

    /// <summary>Final figures and examples after a completed run.</summary>
    public abstract void Report(EvalReport? lastEval, int samples);

    public abstract void Dispose();
}
