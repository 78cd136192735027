using System.Text.Json.Nodes;
using Ptm.HuggingFace;
using Ptm.IO;
using Ptm.Modeling;
using Ptm.Tests.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.Training;

/// <summary>Checkpoints under faults: same-step re-saves, stale staging folders, write errors, damaged files,
/// metrics after a resume, readers racing a live run.</summary>
public class DurabilityTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-durable-" + Guid.NewGuid().ToString("N"));
    static readonly ITokenizer Tokenizer = new CharTokenizer("abcdefghijk".Select(c => c.ToString()));

    public void Dispose()
    {
        Checkpoints.PublishStage = null;
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
    }

    static TrainingConfig Config(int steps, int checkpointEvery = 1) => new()
    {
        BatchSize = 4, BlockSize = 8, MaxSteps = steps, LearningRate = 3e-3, MinLr = 3e-4, WarmupSteps = 2,
        EvalInterval = 1000, EvalIters = 1, LogInterval = 1, CheckpointInterval = checkpointEvery, Seed = 7,
    };

    static Trainer NewTrainer(string runDir, TrainingConfig config)
    {
        manual_seed(42);
        return new Trainer(new CausalLmObjective(new Gpt(GptModelTests.Tiny()), Tokenizer, new SyntheticData(11, 4, 8)), config, runDir);
    }

    static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(from)) CopyFolder(d, Path.Combine(to, Path.GetFileName(d)));
    }

    /// <summary>
    /// Re-saving a step that already has a checkpoint (Ctrl-C right after a scheduled one) replaces the folder latest
    /// names. The folder is copied at every stage of the publish, as a kill there would leave it: in each copy latest
    /// must resolve to a complete checkpoint whose checksums hold.
    /// </summary>
    [Fact]
    public void AKillAtAnyStageOfASameStepResaveLeavesLatestOnAnIntactCheckpoint()
    {
        string runDir = Path.Combine(dir, "resave");
        using (var t = NewTrainer(runDir, Config(2))) t.Run();
        var snapshots = new List<(string Stage, string Copy)>();
        Checkpoints.PublishStage = stage =>
        {
            string copy = Path.Combine(dir, "kill-" + snapshots.Count);
            CopyFolder(runDir, copy);
            snapshots.Add((stage, copy));
        };
        using (var t = NewTrainer(runDir, Config(3)))
        {
            t.Resume(Checkpoints.Latest(runDir)!);
            using var cancel = new CancellationTokenSource();
            cancel.Cancel();
            Assert.Equal(TrainingOutcome.Interrupted, t.Run(cancel.Token).Outcome); // re-saves step 2
        }
        Checkpoints.PublishStage = null;
        Assert.Equal(4, snapshots.Count);
        foreach (var (stage, copy) in snapshots)
        {
            string latest = Checkpoints.Latest(copy)!;
            var check = Checkpoints.Verify(latest);
            Assert.True(check.IsIntact && check.HasChecksums, $"killed when {stage}: {latest}: {string.Join("; ", check.Problems)}");
            Assert.Equal(2, Checkpoints.LoadState(latest).Step);
        }
        Assert.EndsWith("step-00000002", Checkpoints.Latest(runDir));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(runDir, Checkpoints.Folder), ".*"));
    }

    [Fact]
    public void StagedFoldersOfDeadWritersAreRemovedByTheNextSaveAndLiveOnesKept()
    {
        string runDir = Path.Combine(dir, "stale");
        string root = Path.Combine(runDir, Checkpoints.Folder);
        int dead = DeadPid();
        string staleDir = Path.Combine(root, $".step-00000003.{dead}.tmp");
        string staleFile = Path.Combine(root, $".latest.{dead}.{Guid.NewGuid():N}.tmp");
        string staleRunJson = Path.Combine(runDir, $".run.json.{dead}.{Guid.NewGuid():N}.tmp");
        string live = Path.Combine(root, ".step-00000003.1.tmp"); // pid 1 is always running
        foreach (var d in new[] { staleDir, live }) Directory.CreateDirectory(d);
        File.WriteAllText(staleFile, "x");
        File.WriteAllText(staleRunJson, "x");
        using (var t = NewTrainer(runDir, Config(1))) t.Run();
        Assert.False(Directory.Exists(staleDir));
        Assert.False(File.Exists(staleFile));
        Assert.False(File.Exists(staleRunJson));
        Assert.True(Directory.Exists(live));
    }

    static int DeadPid()
    {
        for (int pid = 4_000_000; ; pid--)
        {
            try { System.Diagnostics.Process.GetProcessById(pid).Dispose(); }
            catch (ArgumentException) { return pid; }
        }
    }

    /// <summary>A disk that fills during a checkpoint: one StorageException naming the checkpoint and the reason, the
    /// staged folder gone, the previous checkpoint still latest and intact.</summary>
    [Fact]
    public void AWriteErrorDuringACheckpointIsOneLineAndLeavesThePreviousOneIntact()
    {
        string runDir = Path.Combine(dir, "full");
        using (var t = NewTrainer(runDir, Config(1))) t.Run();
        var state = Checkpoints.LoadState(Checkpoints.Latest(runDir)!);
        using var model = new Gpt(GptModelTests.Tiny());
        var optimizer = OptimizerFactory.AdamW(model, 1e-3, 0, 0.9, 0.99);
        var e = Assert.Throws<StorageException>(() => Checkpoints.Save(runDir, 2, d =>
        {
            File.WriteAllText(Path.Combine(d, "partial"), "x");
            throw new IOException("No space left on device", 28); // ENOSPC, as .NET reports it on Unix
        }, Config(2), optimizer, state with { Step = 2 }));
        Assert.Equal(Path.Combine(runDir, Checkpoints.Folder, "step-00000002") + ": cannot write checkpoint: no space left on device (ENOSPC); free space, then resume", e.Message);
        Assert.Single(e.Message.Split('\n'));
        Assert.EndsWith("step-00000001", Checkpoints.Latest(runDir));
        Assert.True(Checkpoints.Verify(Checkpoints.Latest(runDir)!).IsIntact);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(runDir, Checkpoints.Folder), ".*"));
        Assert.Equal("file too large for the file-size limit (EFBIG, see ulimit -f)", StorageException.Reason(new IOException("File too large", 27)));
    }

    [Fact]
    public void ChecksumsCatchAFlippedByteAndATruncationAndRollBackTakesTheNewestIntact()
    {
        string runDir = Path.Combine(dir, "corrupt");
        using (var t = NewTrainer(runDir, Config(3))) t.Run();
        string latest = Checkpoints.Latest(runDir)!;
        var ok = Checkpoints.Verify(latest);
        Assert.True(ok.IsIntact && ok.HasChecksums);
        Assert.Equal(Directory.GetFiles(latest).Length - 1, ok.FilesChecked); // every file but the checksums file itself

        string weights = Path.Combine(latest, ModelFolder.WeightsFile);
        var bytes = File.ReadAllBytes(weights);
        bytes[^5] ^= 0x01;
        File.WriteAllBytes(weights, bytes);
        Assert.Equal(["model.safetensors: sha256 differs from checksums.json"], Checkpoints.Verify(latest).Problems);
        string optimizer = Path.Combine(latest, ModelFolder.OptimizerFile);
        using (var s = new FileStream(optimizer, FileMode.Open)) s.SetLength(s.Length - 1);
        Assert.Contains(Checkpoints.Verify(latest).Problems, p => p.StartsWith("optimizer.bin: ") && p.Contains("bytes, checksums.json records"));

        var refused = Assert.Throws<InvalidInputException>(() => Checkpoints.RollBackToNewestIntact(runDir, useNewestIntact: false));
        Assert.Contains("damaged checkpoint", refused.Message);
        Assert.Contains("the newest intact checkpoint is step-00000002", refused.Message);
        Assert.Contains("ResumeOptions.UseNewestIntact", refused.Message);
        Assert.EndsWith("step-00000003", Checkpoints.Latest(runDir)); // refusing changes nothing
        Assert.EndsWith("step-00000002", Checkpoints.RollBackToNewestIntact(runDir));
        Assert.EndsWith("step-00000002", Checkpoints.Latest(runDir));
    }

    /// <summary>Steps logged after the checkpoint run again on resume, and a kill can cut the last line short: after
    /// the resume every step appears exactly once.</summary>
    [Fact]
    public void MetricsHaveEachStepOnceAfterAResume()
    {
        string runDir = Path.Combine(dir, "metrics");
        using (var t = NewTrainer(runDir, Config(5, checkpointEvery: 2)))
        {
            using var cancel = new CancellationTokenSource();
            t.StepCompleted += r => { if (r.Step == 3) throw new OperationCanceledException(); }; // dies after logging step 3
            Assert.Throws<OperationCanceledException>(() => t.Run(cancel.Token));
        }
        File.AppendAllText(Path.Combine(runDir, "metrics.jsonl"), "\n{\"step\": 4, \"lo");
        using (var t = NewTrainer(runDir, Config(5, checkpointEvery: 2)))
        {
            t.Resume(Checkpoints.Latest(runDir)!);
            Assert.Equal(2, t.Step);
            t.Run();
        }
        var lines = File.ReadAllLines(Path.Combine(runDir, "metrics.jsonl"));
        Assert.DoesNotContain(null, lines.Select(MetricsFile.StepOf));
        Assert.Equal([1, 2, 3, 4, 5], lines.Where(l => l.Contains("\"loss\":")).Select(MetricsFile.StepOf));
    }

    /// <summary>A reader that resolved a live run's latest checkpoint just before the trainer pruned it retries on the
    /// new latest instead of failing.</summary>
    [Fact]
    public void AReaderRacingThePruneRetriesOnTheNewLatest()
    {
        string runDir = Path.Combine(dir, "live");
        using (var t = NewTrainer(runDir, Config(2))) t.Run();
        int calls = 0;
        var (model, _) = Checkpoints.LoadResolved(runDir, d =>
        {
            if (calls++ == 0)
            {
                // The trainer saves step 3 and prunes step 2 between the reader's resolve and its read.
                using (var t = NewTrainer(runDir, Config(3))) { t.Resume(d); t.Run(); }
                Directory.Delete(d, true);
            }
            return ModelFolder.LoadGpt(d);
        });
        using (model)
            Assert.Equal(2, calls);
    }

    [Fact]
    public void LatestNamingAStagedFolderAlreadyRenamedResolvesToTheStep()
    {
        string root = Path.Combine(dir, "staged", Checkpoints.Folder);
        Directory.CreateDirectory(Path.Combine(root, "step-00000004"));
        File.WriteAllText(Path.Combine(root, Checkpoints.LatestFile), ".step-00000004.12345.tmp\n");
        Assert.Equal(Path.Combine(root, "step-00000004"), Checkpoints.Latest(Path.Combine(dir, "staged")));
    }

    /// <summary>The library's resume refuses a damaged latest checkpoint and, with ResumeOptions.UseNewestIntact, takes
    /// the newest intact one and trains on to the same weights as an uninterrupted run.</summary>
    [Fact]
    public void ResumeWithUseNewestIntactContinuesFromTheIntactCheckpointExactly()
    {
        string corpus = Path.Combine(dir, "book.txt");
        Directory.CreateDirectory(dir);
        File.WriteAllText(corpus, LibraryTrainingTests.Text(30));
        var options = new GptPretrainingOptions
        {
            Model = new GptConfig { NPositions = 16, NEmbd = 16, NLayer = 1, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 },
            Tokenizer = new TokenizerSpec { Kind = "char" },
            Training = Config(4) with { BlockSize = 16 },
        };
        string runDir = Path.Combine(dir, "lib");
        using (var run = Pretraining.Gpt(PretrainingCorpus.FromPath(corpus), options, new RunFolder(runDir))) run.Train();
        string latest = Checkpoints.Latest(runDir)!;
        byte[] good = File.ReadAllBytes(Path.Combine(latest, ModelFolder.WeightsFile));
        File.WriteAllText(Path.Combine(latest, ModelFolder.StateFile), "{}");

        var e = Assert.Throws<InvalidInputException>(() => Pretraining.ResumeGpt(runDir));
        Assert.Contains("trainer_state.json: ", e.Message);
        Assert.Contains("step-00000003", e.Message);
        using (var run = Pretraining.ResumeGpt(runDir, resume: new ResumeOptions { UseNewestIntact = true }))
        {
            Assert.Equal(3, run.Trainer.Step);
            run.Train();
        }
        Assert.Equal(good, File.ReadAllBytes(Path.Combine(Checkpoints.Latest(runDir)!, ModelFolder.WeightsFile)));
        Assert.True(Checkpoints.Verify(Checkpoints.Latest(runDir)!).IsIntact);
    }

    [Theory]
    [InlineData("n_embd")]
    [InlineData("n_layer")]
    [InlineData("n_head")]
    public void AHuggingFaceGptConfigWithoutItsShapeNamesTheMissingField(string field)
    {
        var node = new JsonObject { ["model_type"] = "gpt2", ["n_embd"] = 64, ["n_layer"] = 2, ["n_head"] = 2, ["vocab_size"] = 100 };
        node.Remove(field);
        var e = Assert.Throws<InvalidInputException>(() => HfConfig.Parse(System.Text.Json.JsonSerializer.SerializeToElement(node), "x/config.json"));
        Assert.StartsWith($"x/config.json: missing field '{field}'", e.Message);
    }
}
