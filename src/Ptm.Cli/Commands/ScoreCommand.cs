using System.CommandLine;
using Ptm.Data;
using Ptm.Training;

namespace Ptm.Cli.Commands;

static class ScoreCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "model folder, or a run folder (its latest checkpoint)", Required = true };
        var file = new Option<string>("--file") { Description = "UTF-8 text file to score", Required = true };
        var threads = CommonOptions.Threads();
        var command = new Command("score", "Loss, perplexity and bits per byte of a text file under a GPT") { model, file, threads };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            string path = r.GetValue(file)!;
            string text = TextSource.ReadText(path);
            using var loaded = LoadedModel.Load(r.GetValue(model)!);
            var result = loaded.Score(text, path);
            Console.WriteLine($"tokens        {result.Tokens}");
            Console.WriteLine($"bytes         {result.Bytes}");
            Console.WriteLine($"loss          {result.Loss:F4} nats/token");
            Console.WriteLine($"perplexity    {result.Perplexity:F2}");
            Console.WriteLine($"bits/byte     {result.BitsPerByte:F4}");
            return 0;
        }));
        return command;
    }
}
