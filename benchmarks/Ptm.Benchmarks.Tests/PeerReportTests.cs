using System.Text.Json;
using Ptm.Benchmarks.Throughput;

namespace Ptm.Benchmarks.Tests;

/// <summary>
/// The side-by-side section of the throughput report, built from a given peer JSON (the shape
/// benchmarks/peers/pytorch_peer.py prints) and fixed Ptm figures: no Python, no timing.
/// </summary>
public class PeerReportTests
{
    const string PeerJson = """
        {
          "available": true, "reason": null, "peer": "pytorch-eager", "torch_version": "1.13.0a0", "threads": 2, "sdpa": false,
          "cpu_capability": "AVX2",
          "blas": {"libraries": ["/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblasp-r0.3.21.so"], "openblas": true, "core": "Cooperlake",
                   "threadpoolctl": [{"internal_api": "openblas", "num_threads": 2}]},
          "env": {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"},
          "cases": [{"case": "matmul", "peak_rss_mib": 300}, {"case": "train:default", "peak_rss_mib": 650}],
          "matmul": [
            {"dtype": "fp32", "size": 2048, "repetitions": 8, "best_seconds": 0.2, "median_seconds": 0.2, "best_gflops": 100.0, "median_gflops": 90.0, "peak_rss_mib": 300},
            {"dtype": "bf16", "size": 2048, "repetitions": 5, "best_seconds": 0.1, "median_seconds": 0.1, "best_gflops": 200.0, "median_gflops": 190.0, "peak_rss_mib": 300}
          ],
          "training": [
            {"name": "default", "n_layer": 4, "batch_size": 16, "block_size": 128, "warmup_steps": 2, "timed_steps": 8, "step_seconds": [1.0],
             "median_step_seconds": 1.0, "tokens_per_second": 1500.0, "final_loss": 7.6, "parameter_count": 3716608, "peak_rss_mib": 650}
          ],
          "generation": [
            {"name": "default", "use_cache": true, "prompt_tokens": 16, "new_tokens": 256, "total_seconds": 1.0, "tokens_per_second": 200.0,
             "decode_tokens_per_second": 210.0, "time_to_first_token_ms": 5.0, "peak_rss_mib": 260},
            {"name": "default", "use_cache": false, "prompt_tokens": 16, "new_tokens": 256, "total_seconds": 2.0, "tokens_per_second": 100.0,
             "decode_tokens_per_second": 101.0, "time_to_first_token_ms": 4.0, "peak_rss_mib": 260},
            {"name": "batch8", "use_cache": true, "batch": 8, "prompt_tokens": 16, "new_tokens": 256, "total_seconds": 1.0, "tokens_per_second": 1000.0,
             "decode_tokens_per_second": 1010.0, "time_to_first_token_ms": 9.0, "peak_rss_mib": 270}
          ],
          "generation_memory": {"name": "memory", "new_tokens": 10000, "sample_every": 1000, "first_mib": 250.0, "last_mib": 251.0,
                                "max_mib": 251.5, "slope_mib_per1000_tokens": 0.1, "tokens_per_second": 500.0, "peak_rss_mib": 252}
        }
        """;

    static ThroughputReport PtmReport()
    {
        var memory = new MemoryPeak(600, 200, ThroughputRunner.ChildScope);
        var machine = new MachineInfo("2026-01-01", "2026-01-01T00:00:00Z", "abc", false, "test CPU", 2, 2, true, "0.107", "10.0", "Linux");
        TrainingMeasurement Train(string name, double tps, bool fix) => new(
            name, 4, 256, 4, 2048, 128, 16, 128, 2, 8, [0.3], 0.3, tps, 7.6, 3716608, 3224576, 23.7e6, 140, fix, memory);
        return new ThroughputReport(machine, false, "best fp32", 140,
            [new MatmulMeasurement("fp32", 2048, 8, 0.1, 0.1, 140, 120, true, memory),
             new MatmulMeasurement("bf16", 2048, 5, 0.05, 0.05, 400, 390, true, memory),
             new MatmulMeasurement("fp32", 2048, 8, 0.1, 0.1, 170, 120, false, memory)],
            [Train("default", 6000, true), Train("gpt2-small", 128, true), Train("default", 5000, false)],
            [new GenerationMeasurement("default", true, 16, 256, 128, 3, 0.35, 750, 760, 4.5, true, memory),
             new GenerationMeasurement("default", false, 16, 256, 128, 3, 2.0, 125, 124, 3.1, true, memory),
             new GenerationMeasurement("batch8", true, 16, 256, 128, 2, 1.0, 3000, 3100, 8.0, true, memory, Batch: 8)],
            null, ThroughputRunner.Formulas,
            GenerationMemory: new GenerationMemoryMeasurement("memory", 16, 10000, 128, 1000, [new RssSample(1000, 240), new RssSample(10000, 241)],
                200, 240, 241, 241, 0.111, 750, 52, 52, true, memory));
    }

    [Fact]
    public void SideBySideSectionPairsEveryCaseWithThePeer()
    {
        var env = new PeerEnvironment("/usr/bin/python3", "pytorch_peer.py", PeerRunner.DefaultOpenBlas, CpuIsaEnvironment.PeerVariables, 2);
        var ptm = PtmReport();
        var report = ptm with { Peer = PeerSection.Compare(ptm, PeerReport.Parse(PeerJson), env) };

        string md = ThroughputReportWriter.ToMarkdown(report);
        Assert.Contains("## PyTorch peer", md);
        Assert.Contains("| train:default | training tokens/s | 6000 | 1500 | ×4.00 | 600 | 650 |", md);
        Assert.Contains("| train:gpt2-small | training tokens/s | 128 | n/a | n/a | 600 | n/a |", md); // the peer lacks this case
        Assert.Contains("| generate (KV cache) | generated tokens/s | 750.0 | 200.0 | ×3.75 |", md);
        Assert.Contains("| generate (no cache) | generated tokens/s | 125.0 | 100.0 | ×1.25 |", md);
        Assert.Contains("| generate batch 8 (KV cache) | generated tokens/s | 3000.0 | 1000.0 | ×3.00 |", md);
        Assert.Contains("| generate:memory (10000 tokens) | generated tokens/s | 750.0 | 500.0 | ×1.50 |", md);
        Assert.Contains("slope 0.100 MiB / 1000 tokens", md);
        Assert.Contains("KV cache speed-up: ×6.00 at batch 1.", md);
        Assert.Contains("| matmul fp32 2048² | best GFLOP/s | 140.0 | 100.0 | ×1.40 |", md); // the MKL-fix-off repeat is left out
        Assert.Contains("| matmul bf16 2048² | best GFLOP/s | 400.0 | 200.0 | ×2.00 |", md);
        Assert.Contains("BLAS: OpenBLAS", md);
        Assert.Contains("LD_PRELOAD=" + PeerRunner.DefaultOpenBlas, md);
        Assert.Contains("environment (CPU ISA native): LD_PRELOAD=", md);
        Assert.Contains("unset ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA, OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE", md);
        Assert.Contains("OpenBLAS core Cooperlake", md);
        Assert.Contains("ATen CPU capability: AVX2", md);
        Assert.Equal(8, report.Peer!.Comparison.Count);

        using var doc = JsonDocument.Parse(ThroughputReportWriter.ToJson(report));
        var peer = doc.RootElement.GetProperty("peer");
        Assert.True(peer.GetProperty("available").GetBoolean());
        var first = peer.GetProperty("comparison")[0];
        Assert.Equal("train:default", first.GetProperty("case").GetString());
        Assert.Equal(4.0, first.GetProperty("ratio").GetDouble(), 6);
        Assert.Equal(1500.0, peer.GetProperty("result").GetProperty("training")[0].GetProperty("tokens_per_second").GetDouble());
    }

    [Fact]
    public void MissingPeerIsReportedNotThrown()
    {
        var ptm = PtmReport();
        var unavailable = ptm with { Peer = PeerSection.Compare(ptm, PeerReport.Parse("""{"available": false, "reason": "cannot import torch: No module named 'torch'"}"""), null) };
        string md = ThroughputReportWriter.ToMarkdown(unavailable);
        Assert.Contains("Not run: cannot import torch: No module named 'torch'.", md);
        Assert.DoesNotContain("| case | metric |", md);

        var noBlas = ptm with { Peer = PeerSection.Unavailable("OpenBLAS (OpenMP) not found at /nope", null) };
        Assert.Contains("Not run: OpenBLAS (OpenMP) not found at /nope.", ThroughputReportWriter.ToMarkdown(noBlas));
        Assert.Null(ptm.Peer);
        Assert.DoesNotContain("PyTorch peer", ThroughputReportWriter.ToMarkdown(ptm));
    }

    [Fact]
    public void PeerWithoutOpenBlasIsFlagged()
    {
        var ptm = PtmReport();
        string json = PeerJson.Replace("\"openblas\": true", "\"openblas\": false", StringComparison.Ordinal);
        var section = PeerSection.Compare(ptm, PeerReport.Parse(json), null);
        Assert.True(section.Available);
        Assert.Contains("did not load OpenBLAS", section.Note);
    }

    /// <summary>Held to AVX2, torch 1.13's bf16 product has no oneDNN implementation: the peer keeps its fp32 figure
    /// and says why bf16 is missing, and the comparison shows n/a for that row.</summary>
    [Fact]
    public void PeerWithoutABf16ProductKeepsItsOtherFigures_AndSaysWhy()
    {
        var ptm = PtmReport();
        var node = System.Text.Json.Nodes.JsonNode.Parse(PeerJson)!;
        node["cases"]![0]!["note"] = "no bf16 product: could not create a primitive descriptor iterator";
        node["matmul"]!.AsArray().RemoveAt(1);    // the bf16 entry
        string json = node.ToJsonString();
        var section = PeerSection.Compare(ptm, PeerReport.Parse(json), PeerRunner.Environment(2, CpuIsa.Avx2));
        Assert.Contains("peer case matmul: no bf16 product: could not create a primitive descriptor iterator", section.Note);
        Assert.DoesNotContain("failed", section.Note);
        Assert.Contains(section.Comparison, r => r.Case == "matmul fp32 2048²" && r.Ratio is not null);
        Assert.Contains(section.Comparison, r => r.Case == "matmul bf16 2048²" && r.Pytorch is null && r.Ratio is null);
    }

    [Fact]
    public void PairedRoundsAlternateWhoGoesFirst_AndReportTheMedianOfTheRoundRatios()
    {
        var calls = new List<string>();
        var ptm = new Queue<double>([600, 300, 660]);      // the machine slows down in round 2 for both sides
        var peer = new Queue<double>([500, 200, 500]);
        var paired = PairedRounds.Run(["train:default"], 3,
            name => { calls.Add("ptm " + name); return ptm.Dequeue(); },
            name => { calls.Add("peer " + name); return peer.Dequeue(); }, _ => { });

        Assert.Equal(["ptm train:default", "peer train:default", "peer train:default", "ptm train:default", "ptm train:default", "peer train:default"], calls);
        var c = Assert.Single(paired);
        Assert.Equal([true, false, true], c.Rounds.Select(r => r.PtmFirst));
        // Ratios 1.2, 1.5, 1.32: median 1.32, while the medians of each side (600 / 500) would say 1.2.
        Assert.Equal(1.32, c.MedianRatio, 12);
        Assert.Equal(1.2, c.MinRatio, 12);
        Assert.Equal(1.5, c.MaxRatio, 12);
        Assert.Equal(600, c.MedianPtmTokensPerSecond);
        Assert.Equal(500, c.MedianPeerTokensPerSecond);

        var report = PtmReport() with { Paired = [Set("native", paired)] };
        string md = ThroughputReportWriter.ToMarkdown(report);
        Assert.Contains("| train:default | 600 | 500 | ×1.32 | ×1.20 | ×1.50 | ×1.20, ×1.50, ×1.32 |", md);
        using var doc = JsonDocument.Parse(ThroughputReportWriter.ToJson(report));
        var set = doc.RootElement.GetProperty("paired")[0];
        Assert.Equal("native", set.GetProperty("cpu_isa").GetString());
        Assert.Equal(1.32, set.GetProperty("cases")[0].GetProperty("median_ratio").GetDouble(), 12);
        Assert.Throws<InvalidInputException>(() => ThroughputOptions.Parse(["--paired-rounds", "3"]));   // needs --peer
    }

    [Fact]
    public void PairedRoundsRunPtmWithoutItsKernelsNextToPtm_ForTheCasesTheyServe()
    {
        var calls = new List<string>();
        var ptm = new Queue<double>([600, 640, 300, 310]);
        var off = new Queue<double>([500, 520]);
        var peer = new Queue<double>([400, 410, 200, 205]);
        var paired = PairedRounds.Run(["train:default", "train:bert"], 2,
            name => { calls.Add("ptm " + name); return ptm.Dequeue(); },
            name => { calls.Add("peer " + name); return peer.Dequeue(); }, _ => { },
            name => { calls.Add("off " + name); return off.Dequeue(); },
            new HashSet<string> { "train:default" });

        // Odd rounds: without kernels, Ptm, peer; even rounds: peer, Ptm, without; BERT never without.
        Assert.Equal(["off train:default", "ptm train:default", "peer train:default", "ptm train:bert", "peer train:bert",
            "peer train:default", "ptm train:default", "off train:default", "peer train:bert", "ptm train:bert"], calls);
        var gpt = paired.Single(c => c.Case == "train:default");
        Assert.Equal([500.0, 520.0], gpt.Rounds.Select(r => r.PtmWithoutKernelsTokensPerSecond!.Value));
        Assert.Equal((500.0 / 400 + 520.0 / 200) / 2, gpt.MedianRatioWithoutKernels!.Value, 12);
        Assert.Equal((600.0 / 500 + 300.0 / 520) / 2, gpt.MedianKernelGain!.Value, 12);
        var bert = paired.Single(c => c.Case == "train:bert");
        Assert.Null(bert.MedianKernelGain);
        Assert.All(bert.Rounds, r => Assert.Null(r.PtmWithoutKernelsTokensPerSecond));

        string md = ThroughputReportWriter.ToMarkdown(PtmReport() with { Paired = [Set("native", paired)] });
        Assert.Contains($"| ×{(500.0 / 400 + 520.0 / 200) / 2:F2} | ×{(600.0 / 500 + 300.0 / 520) / 2:F2} |", md);
        Assert.Contains("| train:bert | 475 | 308 | ×1.54 | ×1.51 | ×1.56 | ×1.56, ×1.51 |  |  |", md);
    }

    static PairedSet Set(string isa, IReadOnlyList<PairedCase> cases) => isa == "native"
        ? new(isa, "(none)", "AVX-512, AVX2+FMA", "(none)", new PeerBlas([], true, "Cooperlake"), "AVX2", [], cases)
        : new(isa, CpuIsaEnvironment.Describe(CpuIsaEnvironment.Ptm(CpuIsa.Avx2)), "AVX2+FMA",
            CpuIsaEnvironment.Describe(CpuIsaEnvironment.Peer(CpuIsa.Avx2)), new PeerBlas([], true, "Haswell"), "AVX2", [], cases);

    /// <summary>--cpu-isa both: one report, a paired section per mode, each saying what both sides were told and ran.</summary>
    [Fact]
    public void PairedRoundsOfBothModesGoIntoOneReport_EachWithWhatBothSidesRan()
    {
        PairedCase Case(double ptm, double peer) => new("train:default", [new PairedRound(1, true, ptm, peer)]);
        var report = PtmReport() with { Paired = [Set("native", [Case(1300, 1000)]), Set("avx2", [Case(1400, 1000)])] };
        string md = ThroughputReportWriter.ToMarkdown(report);

        int native = md.IndexOf("## Paired rounds, CPU ISA native", StringComparison.Ordinal);
        int avx2 = md.IndexOf("## Paired rounds, CPU ISA avx2", StringComparison.Ordinal);
        Assert.True(native >= 0 && avx2 > native, md);
        Assert.Contains("| train:default | 1300 | 1000 | ×1.30 |", md[native..avx2]);
        Assert.Contains("| train:default | 1400 | 1000 | ×1.40 |", md[avx2..]);
        Assert.Contains("- Ptm: MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 PTM_KERNELS=avx2 DOTNET_EnableAVX512=0; CPU features seen: AVX2+FMA", md[avx2..]);
        Assert.Contains("- PyTorch: ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell; ran OpenBLAS core Haswell, ATen CPU capability AVX2", md[avx2..]);
        Assert.Contains("- Ptm: (none); CPU features seen: AVX-512, AVX2+FMA", md[native..avx2]);

        using var doc = JsonDocument.Parse(ThroughputReportWriter.ToJson(report));
        Assert.Equal(["native", "avx2"], doc.RootElement.GetProperty("paired").EnumerateArray().Select(s => s.GetProperty("cpu_isa").GetString()));
        Assert.Equal("Haswell", doc.RootElement.GetProperty("paired")[1].GetProperty("peer_blas").GetProperty("core").GetString());
    }

    /// <summary>The peer reports the OpenBLAS core and ATen capability it ran; a mismatch with what it was asked for
    /// is a note in the report, not a silent figure.</summary>
    [Fact]
    public void PeerThatRanOtherKernelsThanAskedIsFlagged()
    {
        var avx2 = PeerRunner.Environment(2, CpuIsa.Avx2);
        Assert.Empty(PeerRunner.Mismatches(avx2, new PeerBlas([], true, "Haswell"), "AVX2"));
        Assert.Equal(["the peer asked OpenBLAS for Haswell kernels but it ran SkylakeX", "the peer asked ATen for avx2 but it dispatched to AVX512"],
            PeerRunner.Mismatches(avx2, new PeerBlas([], true, "SkylakeX"), "AVX512"));
        Assert.Empty(PeerRunner.Mismatches(PeerRunner.Environment(2, CpuIsa.Native), new PeerBlas([], true, "Cooperlake"), "AVX512"));

        var ptm = PtmReport();
        string json = PeerJson.Replace("\"core\": \"Cooperlake\"", "\"core\": \"SkylakeX\"", StringComparison.Ordinal);
        var section = PeerSection.Compare(ptm, PeerReport.Parse(json), avx2);
        Assert.Contains("asked OpenBLAS for Haswell kernels but it ran SkylakeX", section.Note);
    }

    [Fact]
    public void PlanSerialisesWithTheNamesThePeerReads()
    {
        string root = Ptm.Benchmarks.RepoPaths.FindRoot()!;
        var plan = ThroughputPlan.Standard(Path.Combine(root, "configs", "gpt-kjv.json"), quick: false, Path.Combine(root, "configs", "bert-kjv.json"));
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(plan, ThroughputRunner.Json));
        var r = doc.RootElement;
        Assert.Equal(2048, r.GetProperty("matmul").GetProperty("size").GetInt32());
        Assert.Equal(8, r.GetProperty("matmul").GetProperty("fp32_repetitions").GetInt32());
        var train = r.GetProperty("training")[0];
        Assert.Equal("default", train.GetProperty("name").GetString());
        Assert.Equal(2048, train.GetProperty("model").GetProperty("vocab_size").GetInt32());
        Assert.Equal(256, train.GetProperty("model").GetProperty("n_embd").GetInt32());
        Assert.Equal(16, train.GetProperty("training").GetProperty("batch_size").GetInt32());
        Assert.Equal(0.1, train.GetProperty("training").GetProperty("weight_decay").GetDouble());
        Assert.Equal(8, train.GetProperty("timed_steps").GetInt32());
        Assert.Equal(ThroughputPlan.ShortStepWarmup, train.GetProperty("warmup_steps").GetInt32());
        var gpt2 = r.GetProperty("training")[1];
        Assert.Equal(50257, gpt2.GetProperty("model").GetProperty("vocab_size").GetInt32());
        Assert.Equal(256, gpt2.GetProperty("training").GetProperty("block_size").GetInt32());
        Assert.Equal("float32", gpt2.GetProperty("training").GetProperty("precision").GetString());
        // The bf16 lever at the same dtype on both sides: the same two shapes with training.precision bfloat16.
        var bf16 = r.GetProperty("training").EnumerateArray().Where(t => t.GetProperty("name").GetString()!.EndsWith("-bf16", StringComparison.Ordinal)).ToList();
        Assert.Equal(["default-bf16", "gpt2-small-bf16"], bf16.Select(t => t.GetProperty("name").GetString()));
        Assert.All(bf16, t => Assert.Equal("bfloat16", t.GetProperty("training").GetProperty("precision").GetString()));
        Assert.Equal(256, bf16[1].GetProperty("training").GetProperty("block_size").GetInt32());
        Assert.Equal(256, r.GetProperty("generation").GetProperty("new_tokens").GetInt32());
        Assert.Equal(16, r.GetProperty("generation").GetProperty("prompt_tokens").GetInt32());
        var bert = r.GetProperty("bert");
        Assert.Equal("bert", bert.GetProperty("name").GetString());
        Assert.Equal(64, bert.GetProperty("seq_len").GetInt32());
        Assert.Equal(26, bert.GetProperty("max_predictions").GetInt32());  // configs/bert-kjv.json: 40% of 64 positions
        Assert.Equal(4000, bert.GetProperty("model").GetProperty("vocab_size").GetInt32());
        Assert.Equal(256, bert.GetProperty("model").GetProperty("hidden_size").GetInt32());
        Assert.Equal("gelu", bert.GetProperty("model").GetProperty("hidden_act").GetString());
        Assert.Equal(32, bert.GetProperty("training").GetProperty("batch_size").GetInt32());
        Assert.Contains("train:bert", ThroughputRunner.CaseNames(plan));
        var batched = r.GetProperty("batched_generation");
        Assert.Equal("batch8", batched.GetProperty("name").GetString());
        Assert.Equal(8, batched.GetProperty("batch").GetInt32());
        Assert.Equal(256, batched.GetProperty("new_tokens").GetInt32());
        var memory = r.GetProperty("generation_memory");
        Assert.Equal(10000, memory.GetProperty("new_tokens").GetInt32());
        Assert.Equal(1000, memory.GetProperty("sample_every").GetInt32());
        Assert.Equal(2048, memory.GetProperty("model").GetProperty("vocab_size").GetInt32());
        Assert.Equal(["generate", "generate:batch8", "generate:memory"], ThroughputRunner.CaseNames(plan).Where(n => n.StartsWith("generate", StringComparison.Ordinal)));
    }
}
