using System.CommandLine;
using Ptm.Cli.Commands;

namespace Ptm.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // The command owns its process: keep large freed tensors in the heap (docs/native-loading.md).
        Ptm.Kernels.TorchRuntime.TuneMallocForTraining();
        // A file-size limit (ulimit -f) fails the write with EFBIG (a one-line error) instead of killing the process.
        Ptm.IO.FileSizeSignal.Ignore();
        var root = new RootCommand("Ptm: pre-train, then fine-tune, GPT- and BERT-style Transformers on .NET.");
        root.Subcommands.Add(PrepareCommand.Create());
        root.Subcommands.Add(PretrainCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ScoreCommand.Create());
        root.Subcommands.Add(FillMaskCommand.Create());
        root.Subcommands.Add(EmbedCommand.CreateEmbed());
        root.Subcommands.Add(EmbedCommand.CreateSimilar());
        root.Subcommands.Add(FinetuneCommand.Create());
        root.Subcommands.Add(EvaluateCommand.Create());
        root.Subcommands.Add(PredictCommand.Create());
        root.Subcommands.Add(BaselineCommand.Create());
        root.Subcommands.Add(PromptCommand.Create());
        root.Subcommands.Add(HfCommands.CreateConvert());
        root.Subcommands.Add(HfCommands.CreateExport());
        root.Subcommands.Add(HfCommands.CreateInspect());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(StudyCommand.Create());
        return root.Parse(args).Invoke();
    }
}
