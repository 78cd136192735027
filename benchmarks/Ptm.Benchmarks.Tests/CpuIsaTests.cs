using System.Diagnostics;
using Ptm.Benchmarks.Throughput;
using Ptm.Kernels;

namespace Ptm.Benchmarks.Tests;

/// <summary>
/// <c>--cpu-isa</c>: the environment each side's children start with in each mode. The libraries read these variables
/// when they load, so the child's environment is the whole mechanism; a variable inherited from the shell must not
/// survive into a mode that does not set it.
/// </summary>
public class CpuIsaTests
{
    static readonly string[] Inherited = ["MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "PTM_KERNELS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

    /// <summary>Runs <paramref name="body"/> with stray values of every switch in this process's environment, which
    /// the children's start info copies.</summary>
    static void WithStrayVariables(Action body)
    {
        var before = Inherited.ToDictionary(v => v, Environment.GetEnvironmentVariable);
        try
        {
            foreach (string v in Inherited) Environment.SetEnvironmentVariable(v, "stray");
            body();
        }
        finally
        {
            foreach (var (v, value) in before) Environment.SetEnvironmentVariable(v, value);
        }
    }

    static IDictionary<string, string?> PtmChild(CpuIsa isa, bool kernels) =>
        ThroughputRunner.ChildStartInfo("train:default", ["--quick"], mklFix: true, fusedKernels: kernels, isa).Environment;

    static IDictionary<string, string?> PeerChild(CpuIsa isa) =>
        PeerRunner.StartInfo(PeerRunner.Environment(2, isa), "--plan", "plan.json", "--case", "train:default").Environment;

    [Fact]
    public void PtmChildrenGetTheFourLibrarySwitchesInAvx2Mode_AndNoneNatively()
    {
        WithStrayVariables(() =>
        {
            var avx2 = PtmChild(CpuIsa.Avx2, kernels: true);
            Assert.Equal("AVX2", avx2["MKL_ENABLE_INSTRUCTIONS"]);
            Assert.Equal("AVX2", avx2["ONEDNN_MAX_CPU_ISA"]);
            Assert.Equal("avx2", avx2["ATEN_CPU_CAPABILITY"]);
            Assert.Equal("avx2", avx2["PTM_KERNELS"]);
            Assert.Equal("0", avx2["DOTNET_EnableAVX512"]);
            Assert.Equal(ThroughputRunner.WrapperGen0Size, avx2[ThroughputRunner.Gen0SizeVariable]);

            var native = PtmChild(CpuIsa.Native, kernels: true);
            foreach (string v in CpuIsaEnvironment.PtmVariables) Assert.False(native.ContainsKey(v), $"{v} in the native child");
            Assert.False(native.ContainsKey("PTM_MKL_CPU_FIX"));
        });
    }

    [Fact]
    public void WithoutKernelsMeansTheKernelSwitchOff_InEitherMode()
    {
        foreach (var isa in new[] { CpuIsa.Native, CpuIsa.Avx2 })
        {
            var env = PtmChild(isa, kernels: false);
            Assert.Equal("off", env["PTM_KERNELS"]);
            Assert.Equal(isa == CpuIsa.Avx2 ? "avx2" : null, env.TryGetValue("ATEN_CPU_CAPABILITY", out var aten) ? aten : null);
        }
    }

    [Fact]
    public void PeerChildrenGetHaswellOpenBlasAndAvx2AtenInAvx2Mode_AndNoneNatively()
    {
        WithStrayVariables(() =>
        {
            var avx2 = PeerChild(CpuIsa.Avx2);
            Assert.Equal("avx2", avx2["ATEN_CPU_CAPABILITY"]);
            Assert.Equal("AVX2", avx2["ONEDNN_MAX_CPU_ISA"]);
            Assert.Equal("Haswell", avx2["OPENBLAS_CORETYPE"]);
            Assert.False(avx2.ContainsKey("OPENBLAS_L2_SIZE"));
            Assert.Equal(PeerRunner.DefaultOpenBlas, avx2["LD_PRELOAD"]);
            Assert.Equal("2", avx2["OMP_NUM_THREADS"]);

            var native = PeerChild(CpuIsa.Native);
            foreach (string v in CpuIsaEnvironment.PeerVariables) Assert.False(native.ContainsKey(v), $"{v} in the native peer");
            Assert.Equal(PeerRunner.DefaultOpenBlas, native["LD_PRELOAD"]);
        });
    }

    [Fact]
    public void OptionsNameTheModes_AndRefuseWhatCannotWork()
    {
        Assert.Equal([CpuIsa.Native], ThroughputOptions.Parse([]).CpuIsas);
        Assert.Equal([CpuIsa.Avx2], ThroughputOptions.Parse(["--cpu-isa", "avx2"]).CpuIsas);
        var both = ThroughputOptions.Parse(["--peer", "--paired-rounds", "1", "--cpu-isa", "both"]);
        Assert.Equal([CpuIsa.Native, CpuIsa.Avx2], both.CpuIsas);
        Assert.Equal(CpuIsa.Native, both.CpuIsa);
        Assert.Contains("native, avx2 or both", Assert.Throws<InvalidInputException>(() => ThroughputOptions.Parse(["--cpu-isa", "sse"])).Message);
        Assert.Throws<InvalidInputException>(() => ThroughputOptions.Parse(["--cpu-isa", "avx2", "--in-process"]));
        Assert.Throws<InvalidInputException>(() => ThroughputOptions.Parse(["--cpu-isa", "both"]));    // nothing to pair
    }

    [Fact]
    public void Avx2RunsLeaveOutTheBf16TrainingCases_WithANote()
    {
        string root = TestPaths.RepoRoot();
        var plan = ThroughputPlan.Standard(Path.Combine(root, "configs", "gpt-kjv.json"), quick: true, Path.Combine(root, "configs", "bert-kjv.json"));
        var (native, none) = PairedRounds.TrainingCases(plan, CpuIsa.Native);
        Assert.Equal(["train:default", "train:gpt2-small", "train:default-bf16", "train:gpt2-small-bf16", "train:bert", "train:bert-base"], native);
        Assert.Null(none);
        var (avx2, note) = PairedRounds.TrainingCases(plan, CpuIsa.Avx2);
        Assert.Equal(["train:default", "train:gpt2-small", "train:bert", "train:bert-base"], avx2);
        Assert.StartsWith("train:default-bf16, train:gpt2-small-bf16 not run under avx2", note);
        var (restricted, _) = CpuIsaEnvironment.PlanFor(plan, CpuIsa.Avx2);
        Assert.Equal(2, restricted.Training.Count);
        Assert.Equal(plan.Matmul, restricted.Matmul);     // the bf16 product itself still runs, once
    }

    /// <summary>The AVX2 mode's .NET switch reaches what Ptm's code asks (<see cref="CpuFeatures"/>): a child started
    /// with the mode's environment sees no AVX-512, as it would on a Zen 3.</summary>
    [SkippableFact]
    public void Avx2ChildSeesNoAvx512_ThroughCpuFeatures()
    {
        Skip.IfNot(CpuFeatures.HasAvx2Fma, "this CPU lacks AVX2+FMA, so the AVX2 mode cannot run here");
        string Probe(CpuIsa isa)
        {
            var start = new ProcessStartInfo(TestPaths.BenchmarksExe, ["cpu-probe"]) { RedirectStandardOutput = true, UseShellExecute = false };
            CpuIsaEnvironment.Apply(start.Environment, CpuIsaEnvironment.Ptm(isa));
            using var p = Process.Start(start)!;
            string output = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
            return output;
        }
        Assert.Equal("AVX2+FMA", Probe(CpuIsa.Avx2).Replace(", BF16 dot products", "", StringComparison.Ordinal));
        // The native mode removes every restriction, so its child sees at least what this process sees (more, when the
        // suite itself runs under the AVX2 variables).
        string native = Probe(CpuIsa.Native);
        Assert.Contains("AVX2+FMA", native);
        if (CpuFeatures.HasAvx512) Assert.StartsWith("AVX-512", native);
    }
}
