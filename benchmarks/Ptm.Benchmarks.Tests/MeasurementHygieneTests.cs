using System.Diagnostics;
using Ptm.Benchmarks.Throughput;
using Ptm.Modeling;

namespace Ptm.Benchmarks.Tests;

/// <summary>How the harness guards its figures: the MFU denominator, the machine-load record, the BERT-base case.</summary>
public class MeasurementHygieneTests
{
    static readonly MemoryPeak Memory = new(600, 200, ThroughputRunner.ChildScope);

    static CaseResult Matmul(double fp32Best, bool fix, double otherCpus) => new(
        ThroughputRunner.MatmulCase, fix, 2, Memory,
        [new MatmulMeasurement("fp32", 2048, 8, 0.1, 0.1, fp32Best, fp32Best - 5, fix, Memory),
         new MatmulMeasurement("bf16", 2048, 5, 0.05, 0.05, 410, 400, fix, Memory)],
        [], [], Contention: new CaseContention(ThroughputRunner.MatmulCase, fix, 3.0, otherCpus));

    static CaseResult Train(double tokensPerSecond, bool fix, string precision = "float32") => new(
        "train:default", fix, 2, Memory, [],
        [new TrainingMeasurement(precision == "float32" ? "default" : "default-bf16", 4, 256, 4, 2048, 128, 16, 128, 2, 8, [0.3], 0.3,
            tokensPerSecond, 7.6, 3716608, 3224576, 23.7e6, 23.7e6 * tokensPerSecond / 1e9, fix, Memory, Precision: precision)],
        [], Contention: new CaseContention("train:default", fix, 10, 0.0));

    static ThroughputPlan Plan() => ThroughputPlan.Standard(Path.Combine(DataFixturesRoot(), "configs", "gpt-kjv.json"), quick: true,
        Path.Combine(DataFixturesRoot(), "configs", "bert-kjv.json"));

    static string DataFixturesRoot() => TestPaths.RepoRoot();

    /// <summary>The 2026-11-27 puzzle: the first fix-on matmul ran while the dotnet-run host re-JITted the SDK on
    /// one of the two cores (116 GFLOP/s), the fix-off one later on a quiet machine (187). The denominator is the
    /// best of the fix-on readings, and every reading keeps its machine load.</summary>
    [Fact]
    public void MfuDenominatorIsTheBestFixOnMatmul_AndEachCaseKeepsItsLoad()
    {
        var report = ThroughputRunner.Assemble(Plan(),
            [Matmul(116.3, true, 0.95), Train(6306, true), Matmul(208.0, true, 0.02)],
            [Matmul(186.6, false, 0.01), Train(5591, false)]);
        Assert.Equal(208.0, report.PeakFp32Gflops);
        var onTraining = report.Training.Single(t => t.MklCpuFix);
        Assert.Equal(onTraining.AchievedGflops / 208.0, onTraining.Mfu!.Value, 12);
        Assert.Equal(208.0, report.MklFix!.MatmulFp32GflopsWithFix);
        Assert.Equal(186.6, report.MklFix.MatmulFp32GflopsWithoutFix);
        Assert.Equal([0.95, 0.0, 0.02, 0.01, 0.0], report.Contention!.Select(c => c.OtherCpus));

        string md = ThroughputReportWriter.ToMarkdown(report);
        Assert.Contains("| matmul | on | 3.0 | 0.95 | disturbed |", md);

        // A bfloat16 case's products run in bf16, so its MFU is set against the bf16 product (410 in Matmul above).
        var mixed = ThroughputRunner.Assemble(Plan(), [Matmul(208.0, true, 0.0), Train(9000, true, "bfloat16")], []);
        var bf16 = mixed.Training.Single();
        Assert.Equal(bf16.AchievedGflops / 410.0, bf16.Mfu!.Value, 12);
        Assert.Contains("| matmul | on | 3.0 | 0.02 |  |", md);
    }

    [Fact]
    public void PeerComparisonUsesTheBestFixOnMatmul()
    {
        var ptm = ThroughputRunner.Assemble(Plan(), [Matmul(116.3, true, 0.9), Matmul(208.0, true, 0.0)], []);
        var peer = PeerReport.Parse("""
            {"available": true, "threads": 2, "blas": {"libraries": ["libopenblasp-r0.3.21.so"], "openblas": true},
             "matmul": [{"dtype": "fp32", "size": 2048, "repetitions": 8, "best_seconds": 0.1, "median_seconds": 0.1, "best_gflops": 104.0, "median_gflops": 100.0}]}
            """);
        var fp32 = PeerSection.Compare(ptm, peer, null).Comparison.Where(r => r.Case.Contains("fp32", StringComparison.Ordinal)).ToList();
        Assert.Equal(2.0, Assert.Single(fp32).Ratio!.Value, 12);
    }

    /// <summary>Case (c) of the performance issue: BERT-base at sequence length 128, batch 4, 20 predictions.</summary>
    [Fact]
    public void StandardPlanHasTheBertBaseShape()
    {
        var plan = ThroughputPlan.Standard(Path.Combine(DataFixturesRoot(), "configs", "gpt-kjv.json"), quick: false,
            Path.Combine(DataFixturesRoot(), "configs", "bert-kjv.json"));
        var b = plan.BertBase!;
        Assert.Equal(BertThroughput.BaseCaseName, b.Name);
        Assert.Equal((12, 768, 12, 3072, 30522, 512), (b.Model.NumHiddenLayers, b.Model.HiddenSize, b.Model.NumAttentionHeads,
            b.Model.IntermediateSize, b.Model.VocabSize, b.Model.MaxPositionEmbeddings));
        Assert.Equal((4, 128, 20), (b.Training.BatchSize, b.SeqLen, b.MaxPredictions));
        Assert.Contains("train:bert-base", ThroughputRunner.CaseNames(plan));
        Assert.Null(ThroughputPlan.Standard(Path.Combine(DataFixturesRoot(), "configs", "gpt-kjv.json"), quick: true).BertBase);
    }

    /// <summary>A child process that spins for a second shows up as (at least half) a CPU taken by others.</summary>
    [Fact]
    public void CpuLoadSeesAnotherBusyProcess()
    {
        var load = CpuLoad.Start();
        using var spinner = Process.Start(new ProcessStartInfo("sh", ["-c", "end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done"]))!;
        spinner.WaitForExit();
        double other = load.OtherCpus();
        Assert.True(other >= 0.5, $"other processes' load {other}");
    }

    [Fact]
    public void SettleOptionAndThreadsAreParsedAndPassedToChildren()
    {
        var o = ThroughputOptions.Parse(["--threads", "1", "--settle-seconds", "0", "--no-tokenizers", "--no-bert"]);
        Assert.Equal((1, 0.0, false), (o.Threads, o.SettleSeconds, o.Tokenizers));
        Assert.Contains("--threads", o.ChildArguments());
        Assert.Equal(ThroughputOptions.DefaultSettleSeconds, ThroughputOptions.Parse([]).SettleSeconds);
        Assert.Throws<InvalidInputException>(() => ThroughputOptions.Parse(["--threads", "0"]));
    }
}
