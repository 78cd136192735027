using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ptm.FineTuning;
using Ptm.FineTuning.Baselines;
using Ptm.IO;

namespace Ptm.Cli.Commands;

/// <summary>`ptm baseline`: the bag-of-words logistic-regression baseline of a task file, with the majority class beside it.</summary>
static class BaselineCommand
{
    public static Command Create()
    {
        var task = new Option<string>("--task") { Description = "classify | pair | similarity | choice | tag | span | seq2seq", Required = true };
        var train = new Option<string>("--train") { Description = "training examples (.csv, .tsv or .jsonl)", Required = true };
        var validation = new Option<string?>("--validation") { Description = "validation examples, which pick the L2 strength; if left out, --validation-split of --train is held out" };
        var split = new Option<double>("--validation-split") { Description = "fraction held out when --validation is not given", DefaultValueFactory = _ => 0.1 };
        var test = new Option<string?>("--test") { Description = "test examples, scored once with the chosen L2 strength" };
        var output = new Option<string?>("--out") { Description = "metrics JSON to write" };
        var seed = new Option<long>("--seed") { Description = "seed of the validation split", DefaultValueFactory = _ => 1337 };
        var l2 = new Option<string>("--l2") { Description = "comma-separated L2 strengths to try on validation", DefaultValueFactory = _ => "1e-4,1e-3,1e-2,1e-1,1,10" };
        var minCount = new Option<int>("--min-count") { Description = "a word is a feature if the training split has it at least this often", DefaultValueFactory = _ => 2 };
        var weighting = new Option<string>("--weighting") { Description = "a word's feature value: binary (occurs) or log-count (log(1 + count))", DefaultValueFactory = _ => "binary" };
        // One thread by default: the tensors are small, and measured on the shared 2-core machine one thread ran the
        // supersense fit 4-6x faster than libtorch's default.
        var threads = new Option<int>("--threads") { Description = "libtorch intra-op threads (0 = libtorch's default)", DefaultValueFactory = _ => 1 };
        var command = new Command("baseline", "Bag-of-words logistic (or ridge) regression baseline of a task, and the majority class")
        {
            task, train, validation, split, test, output, seed, l2, minCount, weighting, threads,
        };
        var columns = TaskFileOptions.AddTo(command);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            // Put back afterwards: the setting is process-wide, and in-process callers (the tests) run other commands after.
            int before = TorchSharp.torch.get_num_threads();
            try { return Run(r); }
            finally { TorchSharp.torch.set_num_threads(before); }
        }));
        return command;

        int Run(ParseResult r)
        {
            CommonOptions.ApplyThreads(r.GetValue(threads));
            if (r.GetValue(task) == "seq2seq") return Seq2SeqBaselineCommand.Run(r.GetValue(train)!, r.GetValue(validation), r.GetValue(test), r.GetValue(output));
            var t = FineTuneTasks.Parse(r.GetValue(task)!, "--task");
            var options = new BaselineOptions(BaselineOptions.ParseGrid(r.GetValue(l2)!, "--l2"), r.GetValue(minCount),
                BagOfWords.ParseWeighting(r.GetValue(weighting)!, "--weighting"));
            if (options.MinCount < 1) throw new InvalidInputException($"--min-count must be at least 1 (got {options.MinCount})");
            if (r.GetValue(validation) is null && r.GetValue(split) is var fraction && fraction is <= 0 or >= 1)
                throw new InvalidInputException($"--validation-split must be in (0, 1) (got {fraction.ToString(CultureInfo.InvariantCulture)})");
            var cols = columns.Columns(r);
            var trainData = TaskFile.Read(r.GetValue(train)!, t, cols);
            TaskData valData;
            if (r.GetValue(validation) is { } v) valData = TaskFile.Read(v, t, cols);
            else (trainData, valData) = TaskFile.Split(trainData, r.GetValue(split), r.GetValue(seed));
            var testData = r.GetValue(test) is { } testPath ? TaskFile.Read(testPath, t, cols) : null;

            var report = ClassicBaseline.Run(t, trainData, valData, testData, options);
            Console.WriteLine($"task      {FineTuneTasks.Name(t)}: {trainData.Count} train, {valData.Count} validation{(testData is null ? "" : $", {testData.Count} test")} examples");
            Console.WriteLine($"features  {report.Features}; min count {options.MinCount}, {BagOfWords.Name(options.Weighting)}");
            foreach (var trial in report.Trials)
                Console.WriteLine($"l2 {Number(trial.L2),-7}{(trial == report.Chosen ? "*" : " ")} validation {report.Metric} {trial.Validation[report.Metric]:F4}   "
                    + $"objective {trial.Objective:F6} after {trial.Iterations} L-BFGS iterations{(trial.Converged ? "" : $" (NOT converged: max |gradient| {trial.GradientNorm:E1})")}");
            Console.WriteLine($"chosen    l2 {Number(report.Chosen.L2)} (best validation {report.Metric})");
            Console.WriteLine($"validation {Line(report.Validation)}");
            if (report.Test is { } testScore) Console.WriteLine($"test       {Line(testScore)}");
            if (report.MajorityValidation is { } mv)
            {
                Console.WriteLine($"majority  '{mv.Label}' (the training split's most frequent): validation {Line(mv.Score)}");
                if (report.MajorityTest is { } mt) Console.WriteLine($"          test {Line(mt.Score)}");
            }

            if (r.GetValue(output) is { } outPath)
            {
                var json = new Dictionary<string, object?>
                {
                    ["task"] = FineTuneTasks.Name(t), ["train"] = trainData.Source, ["validation"] = valData.Source, ["test"] = testData?.Source,
                    ["examples"] = new Dictionary<string, int?> { ["train"] = trainData.Count, ["validation"] = valData.Count, ["test"] = testData?.Count },
                    ["features"] = report.Features, ["min_count"] = options.MinCount, ["weighting"] = BagOfWords.Name(options.Weighting),
                    ["metric"] = report.Metric,
                    ["l2_search"] = report.Trials.Select(x => new Dictionary<string, object?>
                    {
                        ["l2"] = x.L2, ["validation"] = Json(x.Validation), ["objective"] = x.Objective, ["max_abs_gradient"] = x.GradientNorm,
                        ["iterations"] = x.Iterations, ["converged"] = x.Converged,
                    }).ToArray(),
                    ["l2"] = report.Chosen.L2,
                    ["validation_metrics"] = Json(report.Validation),
                    ["test_metrics"] = report.Test is null ? null : Json(report.Test),
                };
                if (report.MajorityValidation is { } m)
                    json["majority"] = new Dictionary<string, object?>
                    {
                        ["label"] = m.Label, ["validation_metrics"] = Json(m.Score), ["test_metrics"] = report.MajorityTest is null ? null : Json(report.MajorityTest.Score),
                    };
                AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(json, JsonFiles.Indented));
                Console.WriteLine($"metrics written to {outPath}");
            }
            return 0;
        }
    }

    static string Number(double v) => v.ToString("G", CultureInfo.InvariantCulture);

    static string Line(BaselineScore s) => string.Join("  ", s.Values.Select(kv => $"{kv.Key} {kv.Value:F4}"));

    /// <summary>NaN (e.g. Pearson of a constant prediction) is written as null: JSON has no NaN.</summary>
    static Dictionary<string, double?> Json(BaselineScore s) => s.Values.ToDictionary(kv => kv.Key, kv => double.IsNaN(kv.Value) ? null : (double?)kv.Value);
}
