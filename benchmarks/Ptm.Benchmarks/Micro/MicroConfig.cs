using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Ptm.Benchmarks.Micro;

/// <summary>
/// A short job (1 warm-up and 3 measured iterations, one launch) run in this process. In-process keeps things
/// simple here: BenchmarkDotNet's default toolchain generates and builds a project under bin/, which would pick up
/// the repository's Directory.Build.* (warnings as errors, central package versions, the native patch step).
/// </summary>
public static class MicroConfig
{
    public static IConfig Create() => DefaultConfig.Instance
        .AddJob(Job.Default
            .WithWarmupCount(1)
            .WithIterationCount(3)
            .WithLaunchCount(1)
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithId("Short-InProcess"))
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddColumn(StatisticColumn.Median)
        .WithOptions(ConfigOptions.JoinSummary);
}
