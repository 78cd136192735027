using System.Text.Json;
using Ptm.FineTuning;
using Ptm.Tests.Cli;
using Ptm.Training;

namespace Ptm.Tests.FineTuning;

/// <summary>The best-epoch model in RUN/best/, early stopping, and the learning-rate sweep.</summary>
public class SweepAndBestTests(FineTuningTestModels models) : IClassFixture<FineTuningTestModels>
{
    [Fact]
    public void KeeperSavesOnlyImprovementsAndStopsAfterPatience()
    {
        string run = Path.Combine(models.Root, "keeper-" + Guid.NewGuid().ToString("N")[..6]);
        var saved = new List<int>();
        int step = 0;
        var keeper = new BestModelKeeper(run, FineTuneTask.Classify, dir => { Directory.CreateDirectory(dir); File.WriteAllText(Path.Combine(dir, "m"), step.ToString()); saved.Add(step); }, patience: 2);
        foreach (var (s, accuracy) in new[] { (10, 0.5), (20, 0.7), (30, 0.7), (40, 0.6) })
        {
            step = s;
            keeper.Observe(new EvalReport(s, new Dictionary<string, double> { ["loss"] = 1, ["accuracy"] = accuracy }));
            Assert.Equal(s == 40, keeper.ShouldStop);
        }
        Assert.Equal([10, 20], saved);                       // a tie (step 30) keeps the earlier model
        Assert.Equal((0.7, 20), (keeper.Best, keeper.BestStep));
        Assert.Equal("20", File.ReadAllText(Path.Combine(run, "best", "m")));
        Assert.False(Directory.Exists(Path.Combine(run, "best.tmp")));
        Assert.Equal("entity_f1", BestModelKeeper.PrimaryMetric(FineTuneTask.Tag));
        Assert.Equal("f1", BestModelKeeper.PrimaryMetric(FineTuneTask.Span));
    }

    [Fact]
    public void SweepRatesAreParsedStrictly()
    {
        Assert.Equal([5e-5, 3e-5, 2e-5], LearningRateSweep.Parse("5e-5, 3e-5,2e-5"));
        Assert.Contains("not a positive learning rate", Assert.Throws<InvalidInputException>(() => LearningRateSweep.Parse("5e-5,x")).Message);
        Assert.Contains("listed twice", Assert.Throws<InvalidInputException>(() => LearningRateSweep.Parse("1e-3,0.001")).Message);
    }

    [Fact]
    public void CliSweepKeepsTheBestRateAndStopsAFlatRunEarly()
    {
        string dir = Path.Combine(models.Root, "sweep-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(dir);
        string data = Path.Combine(dir, "train.csv");
        File.WriteAllText(data, "text,label\n" + string.Concat(Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? "Let there be light and the day.,light\n" : "The darkness he called Night.,dark\n")));
        string run = Path.Combine(dir, "run");
        // lr 1e-12 cannot change the accuracy, so with --patience 1 that run stops after its second epoch.
        var r = CliHarness.Run("finetune", "--model", models.BertDir, "--task", "classify", "--train", data, "--validation", data, "--out", run,
            "--epochs", "4", "--batch-size", "4", "--lr-sweep", "1e-12,0.003", "--patience", "1");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Contains("early stop: validation accuracy has not improved for 1 epoch(s)", r.Out);
        Assert.Matches(@"sweep     lr 1E-12: accuracy \d\.\d{4}  lr 0\.003: accuracy \d\.\d{4}", r.Out);
        using var sweep = JsonDocument.Parse(File.ReadAllText(Path.Combine(run, "sweep.json")));
        var runs = sweep.RootElement.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(2, runs.Count);
        double best = sweep.RootElement.GetProperty("best_learning_rate").GetDouble();
        Assert.Equal(runs.OrderByDescending(x => x.GetProperty("best").GetDouble()).First().GetProperty("learning_rate").GetDouble(), best);
        Assert.True(File.Exists(Path.Combine(run, "lr-1E-12", "best", "finetune.json")));
        // The flat run stopped at its second epoch's checkpoint (2 steps per epoch), not the fourth.
        Assert.True(Directory.Exists(Path.Combine(run, "lr-1E-12", Checkpoints.Folder, "step-00000004")));
        Assert.False(Directory.Exists(Path.Combine(run, "lr-1E-12", Checkpoints.Folder, "step-00000008")));
        var ev = CliHarness.Run("evaluate", "--model", Path.Combine(run, "best"), "--file", data, "--out", Path.Combine(dir, "m.json"));
        Assert.True(ev.ExitCode == 0, ev.Err);
        Assert.Contains("accuracy", ev.Out);
        // The sweep folder itself resolves to its best model (it has no checkpoints of its own).
        Assert.Equal(Path.Combine(run, "best"), Checkpoints.ResolveModelDirectory(run));
        Assert.Equal(0, CliHarness.Run("evaluate", "--model", run, "--file", data, "--out", Path.Combine(dir, "m2.json")).ExitCode);
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "m.json")), File.ReadAllText(Path.Combine(dir, "m2.json")));
        // --force may replace a sweep folder (it has sweep.json rather than metrics.jsonl at its top).
        Assert.Equal(0, CliHarness.Run("finetune", "--model", models.BertDir, "--task", "classify", "--train", data, "--validation", data, "--out", run,
            "--epochs", "1", "--batch-size", "4", "--lr-sweep", "0.003", "--force").ExitCode);
    }

    [Fact]
    public void ARunFolderResolvesToItsBestModelBeforeItsLatestCheckpoint()
    {
        string run = Path.Combine(models.Root, "resolve-" + Guid.NewGuid().ToString("N")[..6]);
        string step = Path.Combine(run, Checkpoints.Folder, "step-00000002");
        Directory.CreateDirectory(step);
        File.WriteAllText(Path.Combine(step, ModelFolder.ConfigFile), "{}");
        File.WriteAllText(Path.Combine(run, Checkpoints.Folder, Checkpoints.LatestFile), "step-00000002");
        Assert.Equal(step, Checkpoints.ResolveModelDirectory(run));
        // An empty best/ (no config.json) is not a model; a complete one wins.
        string best = Path.Combine(run, Checkpoints.BestFolder);
        Directory.CreateDirectory(best);
        Assert.Equal(step, Checkpoints.ResolveModelDirectory(run));
        File.WriteAllText(Path.Combine(best, ModelFolder.ConfigFile), "{}");
        Assert.Equal(best, Checkpoints.ResolveModelDirectory(run));
        Assert.Equal(step, Checkpoints.ResolveModelDirectory(step));
    }
}
