using System.Text.Json.Nodes;
using Ptm.Generation;
using Ptm.Distributed;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

sealed class GptFamily : IPretrainFamily
{
    static readonly string[] SamplePrompts = ["In the beginning", "And it came to pass", "The LORD is"];

    public string Name => "gpt";
    public string DefaultConfig => "configs/gpt-kjv.json";

    public void ApplyOverrides(JsonObject config, IEnumerable<string> assignments) => GptRunConfig.ApplyOverrides(config, assignments);

    public void Validate(JsonObject config, string source) => Options(config, source);

    static GptPretrainingOptions Options(JsonObject config, string source) =>
        GptPretrainingOptions.From(GptRunConfig.FromNode(config.DeepClone().AsObject(), source), vocabSizeFromTokenizer: config["model"]?["vocab_size"] is null);

    public PretrainingRun Start(JsonObject config, string source, PretrainingCorpus corpus, RunFolder runFolder, Action<string> log, IProcessGroup? group) =>
        Ptm.Training.Pretraining.Gpt(corpus, Options(config, source), runFolder, log, group);

    public PretrainingRun Resume(JsonObject config, string source, string runDir, IProcessGroup? group) =>
        Ptm.Training.Pretraining.ResumeGpt(runDir, Options(config, source), processGroup: group);

    public void Report(PretrainingRun run, EvalReport? lastEval, int samples)
    {
        var gpt = (GptPretraining)run;
        if (lastEval is { } e)
            Console.WriteLine($"validation loss {e.Loss:F4}, perplexity {e.Metrics["ppl"]:F2}, bits per byte {e.Metrics["bpb"]:F4}");
        if (samples <= 0) return;
        gpt.Model.eval();
        var generator = new TextGenerator(gpt.Model, gpt.Tokenizer);
        var options = new GenerationOptions { MaxNewTokens = 60, Temperature = 0.8, TopK = 40, Seed = gpt.Training.Seed, Stop = ["\n\n"] };
        Console.WriteLine();
        Console.WriteLine("samples (temperature 0.8, top-k 40):");
        foreach (string prompt in SamplePrompts.Take(samples))
        {
            try { Console.WriteLine($"> {prompt}{string.Concat(generator.Generate(prompt, options))}"); }
            catch (InvalidInputException) { Console.WriteLine($"> (prompt \"{prompt}\" is not encodable with this vocabulary)"); }
        }
    }
}
