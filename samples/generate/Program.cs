// Streams a continuation of a prompt from a GPT model folder (ours, a Hugging Face one, or a run folder).
// Usage: generate <model-folder> [prompt]
using Ptm;
using Ptm.Generation;

string prompt = args.Length > 1 ? args[1] : "And God said";
using var model = LoadedModel.Load(args[0]);
var options = new GenerationOptions { MaxNewTokens = 40, Temperature = 0.8, TopK = 50, Seed = 42 };
Console.Write(prompt);
await foreach (string piece in model.GenerateAsync(prompt, options))
    Console.Write(piece);
Console.WriteLine();
