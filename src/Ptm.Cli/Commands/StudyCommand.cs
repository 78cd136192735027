using System.CommandLine;
using System.Globalization;
using Ptm.Evaluation.Representations;
using Ptm.FineTuning;
using Ptm.FineTuning.Baselines;

namespace Ptm.Cli.Commands;

/// <summary>`ptm study senses|supersense`: the static-versus-contextual representation study (docs/representations.md).</summary>
static class StudyCommand
{
    public static Command Create()
    {
        var command = new Command("study", "Measure word representations layer by layer: sense separation, supersense probing");
        command.Subcommands.Add(CreateSenses());
        command.Subcommands.Add(CreateSupersense());
        return command;
    }

    static Option<string[]> Models() => new("--model")
    {
        Description = "word vectors (a file or a word2vec/GloVe run folder) or a GPT/BERT model or run folder; NAME=PATH names its rows (repeatable)",
        Required = true, AllowMultipleArgumentsPerToken = false,
    };

    static Command CreateSenses()
    {
        var models = Models();
        var data = new Option<string>("--data") { Description = "a wordnet-senses folder (span-*.csv, pair-*.csv)", DefaultValueFactory = _ => "data/tasks/wordnet-senses" };
        var threads = CommonOptions.Threads();
        var command = new Command("senses", "ROC AUC of the cosine of a word's two vectors for same- versus different-sense usage pairs, per layer") { models, data, threads };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            var dataset = SenseDataset.Load(CommonOptions.Shipped(r.GetValue(data)!));
            Console.WriteLine($"usages {dataset.Usages.Count}, words with a pair {dataset.Words}, pairs {dataset.Pairs.Count} "
                + $"(same sense {dataset.SameCount}, different {dataset.DifferentCount}; {dataset.IdenticalTexts} with identical sentences left out)");
            var opened = new List<OpenedRepresentation>();
            try
            {
                foreach (var spec in r.GetValue(models)!) opened.Add(Open(spec));
                var results = SenseSeparation.Compare(opened.Select(o => o.Representation).ToList(), dataset,
                    name => Console.Error.WriteLine($"encoding {dataset.Usages.Count} usages with {name}"));
                var common = results[0].Common[0];
                Console.WriteLine($"pairs covered by every model: {common.Same + common.Different} (same {common.Same}, different {common.Different})");
                Console.WriteLine();
                Console.WriteLine("| model | layer | usages covered | pairs (same/diff) | AUC | AUC, common pairs | mean cos same / diff |");
                Console.WriteLine("|---|---|---:|---:|---:|---:|---:|");
                foreach (var m in results)
                    for (int l = 0; l < m.Own.Count; l++)
                    {
                        var (own, shared) = (m.Own[l], m.Common[l]);
                        Console.WriteLine($"| {m.Name} | {own.Name} | {m.CoveredUsages} | {own.Same}/{own.Different} | {F(own.Auc)} | {F(shared.Auc)} | {F(own.MeanSame)} / {F(own.MeanDifferent)} |");
                    }
            }
            finally
            {
                foreach (var o in opened) o.Dispose();
            }
            return 0;
        }));
        return command;
    }

    static Command CreateSupersense()
    {
        var models = Models();
        var data = new Option<string>("--data") { Description = "a folder with train.csv, validation.csv and test.csv (text, label)", DefaultValueFactory = _ => "data/tasks/wordnet-supersense" };
        var l2 = new Option<string>("--l2") { Description = "comma-separated L2 strengths tried on validation", DefaultValueFactory = _ => "1e-4,1e-3,1e-2,1e-1,1,10" };
        var threads = new Option<int>("--threads") { Description = "libtorch intra-op threads (0 = libtorch's default)", DefaultValueFactory = _ => 1 };
        var command = new Command("supersense", "Linear probe per layer: mean token vector of each text, logistic regression, test accuracy") { models, data, l2, threads };
        command.SetAction(r => CommandErrors.Run(() =>
        {
            int before = TorchSharp.torch.get_num_threads();
            try
            {
                CommonOptions.ApplyThreads(r.GetValue(threads));
                var grid = BaselineOptions.ParseGrid(r.GetValue(l2)!, "--l2");
                string folder = CommonOptions.Shipped(r.GetValue(data)!);
                TaskData Read(string split) => TaskFile.Read(Path.Combine(folder, split + ".csv"), FineTuneTask.Classify, new TaskColumns());
                var (train, validation, test) = (Read("train"), Read("validation"), Read("test"));
                Console.WriteLine($"examples {train.Count} train, {validation.Count} validation, {test.Count} test");
                Console.WriteLine();
                Console.WriteLine("| model | layer | L2 | validation accuracy | test accuracy | texts without a vector |");
                Console.WriteLine("|---|---|---:|---:|---:|---:|");
                foreach (var spec in r.GetValue(models)!)
                {
                    using var opened = Open(spec);
                    Console.Error.WriteLine($"probing {opened.Representation.Name}");
                    var report = LinearProbe.Run(opened.Representation, train, validation, test, grid);
                    foreach (var p in report.Layers)
                        Console.WriteLine($"| {opened.Representation.Name} | {p.Name} | {p.L2.ToString("G3", CultureInfo.InvariantCulture)} | {P(p.ValidationAccuracy)} | {P(p.TestAccuracy)} | {report.Uncovered} |");
                }
                return 0;
            }
            finally { TorchSharp.torch.set_num_threads(before); }
        }));
        return command;
    }

    /// <summary>NAME=PATH or PATH (named after its file or folder).</summary>
    static OpenedRepresentation Open(string spec)
    {
        int eq = spec.IndexOf('=');
        return eq > 0 && !Path.Exists(spec) ? OpenedRepresentation.Open(spec[(eq + 1)..], spec[..eq]) : OpenedRepresentation.Open(spec);
    }

    static string F(double v) => double.IsNaN(v) ? "—" : v.ToString("F3", CultureInfo.InvariantCulture);
    static string P(double v) => (100 * v).ToString("F1", CultureInfo.InvariantCulture) + "%";
}
