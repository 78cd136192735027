using System.Text.Json;
using Ptm.Benchmarks.Throughput;
using Ptm.Modeling;
using Ptm.Training;

namespace Ptm.Benchmarks.Tests;

/// <summary>
/// Runs the throughput harness end to end on a tiny model, in this process, and checks the shape of its report.
/// Timings are never asserted beyond being positive: the point is that the benchmark code keeps working.
/// </summary>
public class ThroughputHarnessTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-bench-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    static ThroughputPlan TinyPlan()
    {
        var model = new GptConfig { VocabSize = 64, NPositions = 32, NEmbd = 16, NLayer = 2, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 };
        var training = new TrainingConfig { BatchSize = 2, BlockSize = 16 };
        return new ThroughputPlan(
            new MatmulCase(Size: 32, Fp32Repetitions: 1, Bf16Repetitions: 1, Warmup: 0),
            [new TrainingCase("tiny", model, training, WarmupSteps: 0, TimedSteps: 1)],
            new GenerationCase("tiny", model, PromptTokens: 3, NewTokens: 4, WarmupTokens: 0, Repetitions: 1),
            Quick: true, MklComparisonCase: null)
        {
            BatchedGeneration = new GenerationCase("tiny-batch3", model, PromptTokens: 3, NewTokens: 5, WarmupTokens: 0, Repetitions: 1, Batch: 3),
            GenerationMemory = new GenerationMemoryCase("tiny-memory", model, PromptTokens: 3, NewTokens: 60, SampleEvery: 20),
        };
    }

    [Fact]
    public void InProcessRunProducesACompleteReport()
    {
        var report = ThroughputRunner.Run(TinyPlan(), childArguments: null, _ => { });
        var (jsonPath, markdownPath) = ThroughputReportWriter.Save(report, dir);

        Assert.Equal($"{report.Machine.Date}-throughput.json", Path.GetFileName(jsonPath));
        Assert.Contains("| tiny |", File.ReadAllText(markdownPath));

        using var doc = JsonDocument.Parse(File.ReadAllText(jsonPath));
        var root = doc.RootElement;
        var machine = root.GetProperty("machine");
        foreach (string field in new[] { "date", "cpu_model", "torch_threads", "mkl_cpu_fix_loaded", "git_commit" })
            Assert.True(machine.TryGetProperty(field, out _), $"machine.{field} missing");
        Assert.True(machine.GetProperty("torch_threads").GetInt32() > 0);
        Assert.Equal(Ptm.Kernels.CpuFeatures.Describe(), machine.GetProperty("cpu_features").GetString());
        Assert.Equal(JsonValueKind.Null, machine.GetProperty("cpu_isa").ValueKind);   // in-process: this process's own, unnamed
        Assert.True(root.GetProperty("peak_fp32_gflops").GetDouble() > 0);
        Assert.True(root.GetProperty("formulas").TryGetProperty("flops_per_token", out _));

        var matmul = root.GetProperty("matmul").EnumerateArray().ToList();
        Assert.Equal(["fp32", "bf16"], matmul.Select(m => m.GetProperty("dtype").GetString()));
        Assert.All(matmul, m => Assert.True(m.GetProperty("best_gflops").GetDouble() > 0));

        var training = Assert.Single(root.GetProperty("training").EnumerateArray());
        Assert.Equal("tiny", training.GetProperty("name").GetString());
        Assert.True(training.GetProperty("tokens_per_second").GetDouble() > 0);
        Assert.Single(training.GetProperty("step_seconds").EnumerateArray());
        Assert.True(double.IsFinite(training.GetProperty("final_loss").GetDouble()));
        Assert.True(training.GetProperty("flops_per_token").GetDouble() > 0);
        Assert.True(training.GetProperty("mfu").GetDouble() > 0);
        Assert.True(training.GetProperty("memory").GetProperty("peak_rss_mib").GetDouble() > 0);
        Assert.Equal(ThroughputRunner.InProcessScope, training.GetProperty("memory").GetProperty("scope").GetString());

        var generation = root.GetProperty("generation").EnumerateArray().ToList();
        Assert.Equal([true, false, true, false], generation.Select(g => g.GetProperty("use_cache").GetBoolean()));
        Assert.Equal([1, 1, 3, 3], generation.Select(g => g.GetProperty("batch").GetInt32()));
        Assert.Equal([4, 4, 5, 5], generation.Select(g => g.GetProperty("new_tokens").GetInt32()));
        Assert.All(generation, g =>
        {
            Assert.True(g.GetProperty("tokens_per_second").GetDouble() > 0);
            Assert.True(g.GetProperty("time_to_first_token_ms").GetDouble() > 0);
        });
        // Batch 3: three sequences' tokens over the same call.
        var b3 = generation[2];
        Assert.Equal(3 * 5 / b3.GetProperty("total_seconds").GetDouble(), b3.GetProperty("tokens_per_second").GetDouble(), 6);

        var memory = root.GetProperty("generation_memory");
        Assert.Equal(60, memory.GetProperty("new_tokens").GetInt32());
        Assert.Equal([20, 40, 60], memory.GetProperty("samples").EnumerateArray().Select(x => x.GetProperty("tokens").GetInt32()));
        Assert.True(memory.GetProperty("first_mib").GetDouble() > 0);
        Assert.Equal(memory.GetProperty("live_tensors_before").GetInt64(), memory.GetProperty("live_tensors_after").GetInt64());
        Assert.Contains("## Generation memory", File.ReadAllText(markdownPath));
        Assert.Contains(GenerationSuite.MemoryCaseName, ThroughputRunner.CaseNames(TinyPlan()));

        // The comparison needs child processes, which in-process runs skip.
        Assert.Equal(JsonValueKind.Null, root.GetProperty("mkl_fix").ValueKind);
    }

    [Fact]
    public void MemorySlopeIsTheLeastSquaresSlopePerThousandTokens()
    {
        // dx = -1500, -500, 500, 1500 tokens, dy = -2.5, -1.5, 1.5, 2.5 MiB: Σdx·dy / Σdx² = 9000 / 5e6 MiB per token.
        var samples = new[] { new RssSample(1000, 102.5), new RssSample(2000, 103.5), new RssSample(3000, 106.5), new RssSample(4000, 107.5) };
        Assert.Equal(1.8, GenerationSuite.SlopePer1000(samples), 9);
        Assert.Equal(0, GenerationSuite.SlopePer1000([new RssSample(1000, 5)]));
        Assert.Equal(0, GenerationSuite.SlopePer1000([new RssSample(1000, 5), new RssSample(2000, 5)]));

        // The same slope through any of a sample's figures: here the glibc in-use column falls by 0.5 MiB per 1000.
        var heap = new[] { new RssSample(1000, 200, NativeInUseMib: 105), new RssSample(2000, 206, NativeInUseMib: 104.5), new RssSample(3000, 206, NativeInUseMib: 104) };
        Assert.Equal(-0.5, GenerationSuite.SlopePer1000(heap, x => x.NativeInUseMib!.Value), 9);
        Assert.Equal(3.0, GenerationSuite.SlopePer1000(heap), 9);
    }

    /// <summary>
    /// The ./ptm wrapper starts the command line with DOTNET_GCgen0size, and the harness gives its child processes the
    /// same value: both must agree, and this runtime must still honour the variable (it caps the gen0 budget).
    /// </summary>
    [Fact]
    public void WrapperAndHarnessSetTheSameGen0Budget_AndTheRuntimeHonoursIt()
    {
        string wrapper = File.ReadAllText(Path.Combine(TestPaths.RepoRoot(), "ptm"));
        Assert.Contains($"export {ThroughputRunner.Gen0SizeVariable}=\"${{{ThroughputRunner.Gen0SizeVariable}:-{ThroughputRunner.WrapperGen0Size}}}\"", wrapper);

        long Budget(string? gen0Size)
        {
            var start = new System.Diagnostics.ProcessStartInfo(TestPaths.BenchmarksExe, ["gc-probe"]) { RedirectStandardOutput = true, UseShellExecute = false };
            if (gen0Size is null) start.Environment.Remove(ThroughputRunner.Gen0SizeVariable);
            else start.Environment[ThroughputRunner.Gen0SizeVariable] = gen0Size;
            using var p = System.Diagnostics.Process.Start(start)!;
            string output = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
            return long.Parse(output, System.Globalization.CultureInfo.InvariantCulture);
        }
        // The runtime's own budget depends on the cache size (16 MiB here); with the variable it follows the variable.
        long set = Budget(ThroughputRunner.WrapperGen0Size), unset = Budget(null);
        Assert.True(set >= 4L << 20 && set <= 8L << 20, $"gen0 budget with {ThroughputRunner.WrapperGen0Size}: {set}, without: {unset}");
    }

    [Fact]
    public void FlopsPerTokenFollowsTheDocumentedFormula()
    {
        var gpt2 = new GptConfig();
        // GPT-2 small without wpe: 124,439,808 - 1024*768 = 123,653,376 parameters.
        double expected = 6.0 * 123_653_376 + 12.0 * 12 * 12 * 64 * 1024;
        Assert.Equal(expected, ThroughputMeasurements.FlopsPerToken(gpt2, 123_653_376, 1024));
    }
}
