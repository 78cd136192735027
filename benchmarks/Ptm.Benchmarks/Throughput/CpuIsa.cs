using Ptm.Kernels;

namespace Ptm.Benchmarks.Throughput;

/// <summary>The instruction sets a throughput run lets both sides use (<c>--cpu-isa</c>).</summary>
public enum CpuIsa
{
    /// <summary>Whatever this CPU has: every variable below is removed from the children's environment, so one
    /// inherited from the shell cannot restrict a run that the report calls native.</summary>
    Native,

    /// <summary>AVX2 and FMA only, as on AMD Zen 3 or Intel Haswell: the libraries' own switches cap their dispatch
    /// below AVX-512 on an AVX-512 machine.</summary>
    Avx2,
}

/// <summary>
/// The environment each side's child processes get for a <see cref="CpuIsa"/>. Every library reads its switch once,
/// when it loads, so the restriction only works in a fresh process: Ptm's cases and the peer always run as children.
/// <para>Ptm (AVX2): MKL's dispatch (<c>MKL_ENABLE_INSTRUCTIONS</c>), oneDNN's JIT (<c>ONEDNN_MAX_CPU_ISA</c>),
/// ATen's vectorised kernels (<c>ATEN_CPU_CAPABILITY</c>), Ptm's own kernels (<c>PTM_KERNELS</c>), and the .NET
/// JIT's use of AVX-512 (<c>DOTNET_EnableAVX512</c>, .NET 10's name; it also makes <see cref="CpuFeatures.HasAvx512"/> and
/// <see cref="CpuFeatures.HasBf16DotProduct"/> false, as on a Zen 3).</para>
/// <para>The peer (AVX2): ATen and oneDNN as above, and OpenBLAS's Haswell kernels (<c>OPENBLAS_CORETYPE</c>; Debian
/// builds OpenBLAS for every core and picks one at load). The peer reports which core and ATen capability it ran.</para>
/// </summary>
public static class CpuIsaEnvironment
{
    /// <summary>Ptm's kernel selector: <c>avx512</c>, <c>avx2</c>, <c>portable</c> or <c>off</c>; unset picks the best this CPU runs.</summary>
    public const string KernelsVariable = "PTM_KERNELS";

    /// <summary>Every variable a mode may set on Ptm's side; the native mode removes them all.</summary>
    public static readonly IReadOnlyList<string> PtmVariables =
        ["MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", KernelsVariable, "DOTNET_EnableAVX512"];

    /// <summary>Every variable a mode may set on the peer's side; the native mode removes them all (with
    /// <c>OPENBLAS_L2_SIZE</c>, which would misstate the cache to OpenBLAS).</summary>
    public static readonly IReadOnlyList<string> PeerVariables = ["ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

    /// <summary>The mode's name as <c>--cpu-isa</c> spells it and the reports print it.</summary>
    public static string Name(CpuIsa isa) => isa switch
    {
        CpuIsa.Native => "native",
        CpuIsa.Avx2 => "avx2",
        _ => throw new ArgumentOutOfRangeException(nameof(isa)),
    };

    /// <summary><c>native</c>, <c>avx2</c>, or <c>both</c> (native, then AVX2).</summary>
    public static IReadOnlyList<CpuIsa> Parse(string value) => value switch
    {
        "native" => [CpuIsa.Native],
        "avx2" => [CpuIsa.Avx2],
        "both" => [CpuIsa.Native, CpuIsa.Avx2],
        _ => throw new InvalidInputException($"--cpu-isa must be native, avx2 or both (got '{value}')"),
    };

    /// <summary>
    /// Ptm's child environment: each variable of <see cref="PtmVariables"/> with its value, or null to remove it.
    /// </summary>
    /// <param name="kernels">false: Ptm's kernels off (the "without kernels" runs), in either mode.</param>
    public static IReadOnlyDictionary<string, string?> Ptm(CpuIsa isa, bool kernels = true)
    {
        var env = PtmVariables.ToDictionary(v => v, _ => (string?)null);
        if (isa == CpuIsa.Avx2)
        {
            env["MKL_ENABLE_INSTRUCTIONS"] = "AVX2";
            env["ONEDNN_MAX_CPU_ISA"] = "AVX2";
            env["ATEN_CPU_CAPABILITY"] = "avx2";
            env[KernelsVariable] = "avx2";
            env["DOTNET_EnableAVX512"] = "0";
        }
        if (!kernels) env[KernelsVariable] = "off";
        return env;
    }

    /// <summary>The peer's child environment: each variable of <see cref="PeerVariables"/> with its value, or null to remove it.</summary>
    public static IReadOnlyDictionary<string, string?> Peer(CpuIsa isa)
    {
        var env = PeerVariables.ToDictionary(v => v, _ => (string?)null);
        if (isa == CpuIsa.Avx2)
        {
            env["ATEN_CPU_CAPABILITY"] = "avx2";
            env["ONEDNN_MAX_CPU_ISA"] = "AVX2";
            env["OPENBLAS_CORETYPE"] = "Haswell";
        }
        return env;
    }

    /// <summary>
    /// The plan as it runs under <paramref name="isa"/>: unchanged natively; under AVX2 without the bfloat16 training
    /// cases (the note names them), because without AVX-512 BF16 both sides compute a bf16 product through float32
    /// conversions, far slower than float32 itself: long runs measuring a setting no one would choose on such a CPU
    /// (docs/performance.md, "bfloat16 mixed precision"). The bf16 <c>matmul</c> product stays, to show it.
    /// </summary>
    public static (ThroughputPlan Plan, string? Note) PlanFor(ThroughputPlan plan, CpuIsa isa)
    {
        if (isa == CpuIsa.Native) return (plan, null);
        var bf16 = plan.Training.Where(t => t.Training.Precision == "bfloat16").ToList();
        if (bf16.Count == 0) return (plan, null);
        return (plan with { Training = plan.Training.Except(bf16).ToList() },
            $"{string.Join(", ", bf16.Select(t => ThroughputRunner.TrainCasePrefix + t.Name))} not run under {Name(isa)}: " +
            "without AVX-512 BF16 a bfloat16 product runs far slower than float32 on both sides");
    }

    /// <summary>Applies <paramref name="variables"/> to a child's environment (null removes).</summary>
    public static void Apply(IDictionary<string, string?> environment, IReadOnlyDictionary<string, string?> variables)
    {
        foreach (var (name, value) in variables)
            if (value is null) environment.Remove(name);
            else environment[name] = value;
    }

    /// <summary>The variables a mode sets, as <c>A=1 B=2</c>, for reports ("(none)" when it only removes).</summary>
    public static string Describe(IReadOnlyDictionary<string, string?> variables)
    {
        var set = variables.Where(kv => kv.Value is not null).Select(kv => $"{kv.Key}={kv.Value}").ToList();
        return set.Count == 0 ? "(none)" : string.Join(" ", set);
    }
}
