using System.CommandLine;
using Ptm.Data;
using Ptm.Generation;

namespace Ptm.Cli.Commands;

static class GenerateCommand
{
    /// <summary>Printed between the results of several prompts.</summary>
    public const string Separator = "---";

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model folder, or a run folder (its latest checkpoint)", Required = true };
        var prompt = new Option<string[]>("--prompt") { Description = "text to continue (repeatable: several prompts are decoded as a batch)", AllowMultipleArgumentsPerToken = false };
        var promptsFile = new Option<string>("--prompts-file") { Description = "UTF-8 file with one prompt per line (blank lines are skipped), decoded in batches" };
        var batchSize = new Option<int>("--batch-size") { Description = "prompts decoded together when there are several", DefaultValueFactory = _ => 8 };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "tokens to generate", DefaultValueFactory = _ => 200 };
        var temperature = new Option<double>("--temperature") { Description = "softmax temperature; 0 = greedy", DefaultValueFactory = _ => 0.8 };
        var topK = new Option<int>("--top-k") { Description = "sample from the k most likely tokens (0 = all)", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "nucleus sampling threshold (1 = off)", DefaultValueFactory = _ => 1.0 };
        var penalty = new Option<double>("--repetition-penalty") { Description = "CTRL repetition penalty (1 = off)", DefaultValueFactory = _ => 1.0 };
        var stop = new Option<string[]>("--stop") { Description = "stop when this text appears (repeatable)", AllowMultipleArgumentsPerToken = false };
        var seed = new Option<long>("--seed") { Description = "random seed (same seed, same text)", DefaultValueFactory = _ => 1337 };
        var noCache = new Option<bool>("--no-cache") { Description = "recompute the whole context for every token (slow; for checking)" };
        var beams = BeamOptions.Create();
        var threads = CommonOptions.Threads();
        var command = new Command("generate", "Continue a prompt with a GPT, streaming tokens as they are produced")
        {
            model, prompt, promptsFile, batchSize, maxNew, temperature, topK, topP, penalty, stop, seed, noCache, threads,
        };
        beams.AddTo(command);
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
            var prompts = ReadPrompts(r.GetValue(prompt) ?? [], r.GetValue(promptsFile));
            int batch = r.GetValue(batchSize);
            if (batch < 1) throw new InvalidInputException($"--batch-size must be at least 1 (got {batch})");
            using var loaded = LoadedModel.Load(r.GetValue(model)!);
            // Without an end-of-text token the generator refuses an empty prompt itself.
            if (prompts.Any(p => p.Length == 0) && loaded.Tokenizer.EndOfTextId is not null)
                Console.Error.WriteLine("warning: empty prompt: generating from the end-of-text token alone (the start of a new document)");
            if (beams.Options(r, options.MaxNewTokens) is { } beamOptions)
                return BeamOptions.Print(loaded.CreateGenerator(), prompts, batch, beamOptions);
            if (prompts.Count == 1)
            {
                var pieces = loaded.CreateGenerator().Generate(prompts[0], options);
                Console.Write(prompts[0]);
                foreach (var piece in pieces)
                {
                    Console.Write(piece);
                    Console.Out.Flush();
                }
                Console.WriteLine();
                return 0;
            }
            for (int first = 0; first < prompts.Count; first += batch)
            {
                var chunk = prompts.Skip(first).Take(batch).ToArray();
                var texts = loaded.Generate(chunk, options);
                for (int i = 0; i < chunk.Length; i++)
                {
                    if (first + i > 0) Console.WriteLine(Separator);
                    Console.WriteLine(chunk[i] + texts[i]);
                }
                Console.Out.Flush();
            }
            return 0;
        }));
        return command;
    }

    static IReadOnlyList<string> ReadPrompts(string[] prompts, string? file)
    {
        if (file is null)
            return prompts.Length > 0 ? prompts : throw new InvalidInputException("give a prompt with --prompt (repeatable) or --prompts-file");
        if (prompts.Length > 0) throw new InvalidInputException("give --prompt or --prompts-file, not both");
        var lines = TextSource.ReadText(file).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToArray();
        return lines.Length > 0 ? lines : throw new InvalidInputException($"{file}: no prompts (one per line; blank lines are skipped)");
    }
}
