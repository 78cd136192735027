using System.CommandLine;
using Ptm.Generation;
using Ptm.Training;

namespace Ptm.Cli.Commands;

static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model folder, or a run folder (its latest checkpoint)", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "text to continue", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "tokens to generate", DefaultValueFactory = _ => 200 };
        var temperature = new Option<double>("--temperature") { Description = "softmax temperature; 0 = greedy", DefaultValueFactory = _ => 0.8 };
        var topK = new Option<int>("--top-k") { Description = "sample from the k most likely tokens (0 = all)", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "nucleus sampling threshold (1 = off)", DefaultValueFactory = _ => 1.0 };
        var penalty = new Option<double>("--repetition-penalty") { Description = "CTRL repetition penalty (1 = off)", DefaultValueFactory = _ => 1.0 };
        var stop = new Option<string[]>("--stop") { Description = "stop when this text appears (repeatable)", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<long>("--seed") { Description = "random seed (same seed, same text)", DefaultValueFactory = _ => 1337 };
        var noCache = new Option<bool>("--no-cache") { Description = "recompute the whole context for every token (slow; for checking)" };
        var threads = CommonOptions.Threads();
        var command = new Command("generate", "Continue a prompt with a GPT, streaming tokens as they are produced")
        {
            model, prompt, maxNew, temperature, topK, topP, penalty, stop, seed, noCache, threads,
        };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            var options = new GenerationOptions
            {
                MaxNewTokens = r.GetValue(maxNew),
                Temperature = r.GetValue(temperature),
                TopK = r.GetValue(topK),
                TopP = r.GetValue(topP),
                RepetitionPenalty = r.GetValue(penalty),
                Stop = r.GetValue(stop) ?? [],
                Seed = r.GetValue(seed),
                UseCache = !r.GetValue(noCache),
            };
            options.Validate();
            var (gpt, tokenizer) = ModelFolder.LoadGpt(r.GetValue(model)!);
            var generator = new TextGenerator(gpt, tokenizer);
            string text = r.GetValue(prompt)!;
            var pieces = generator.Generate(text, options);
            Console.Write(text);
            foreach (var piece in pieces)
            {
                Console.Write(piece);
                Console.Out.Flush();
            }
            Console.WriteLine();
            return 0;
        }));
        return command;
    }
}
