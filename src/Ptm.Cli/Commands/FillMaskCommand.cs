using System.CommandLine;
using Ptm.Generation;

namespace Ptm.Cli.Commands;

static class FillMaskCommand
{
    public static Command Create()
    {
        var text = new Argument<string>("text") { Description = "a sentence with one or more [MASK] tokens" };
        var model = new Option<string>("--model") { Description = "BERT model folder, or a run folder (its latest checkpoint)", Required = true };
        var topK = new Option<int>("--top-k") { Description = "candidates per [MASK]", DefaultValueFactory = _ => 5 };
        var threads = CommonOptions.Threads();
        var command = new Command("fill-mask", "The most likely tokens for each [MASK] in a sentence, with probabilities") { text, model, topK, threads };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            using var loaded = LoadedModel.Load(r.GetValue(model)!);
            var results = loaded.FillMask(r.GetValue(text)!, new FillMaskOptions { TopK = r.GetValue(topK) });
            for (int m = 0; m < results.Count; m++)
            {
                if (results.Count > 1) Console.WriteLine($"[MASK] #{m + 1}");
                foreach (var c in results[m]) Console.WriteLine($"  {c.Token,-15} {c.Probability,8:P2}");
            }
            return 0;
        }));
        return command;
    }
}
