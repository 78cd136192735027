using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;

namespace Ptm.Benchmarks.Throughput;

/// <summary>
/// Runs the PyTorch peer (<c>benchmarks/peers/pytorch_peer.py</c>) on the same plan and thread count as Ptm, in
/// a child process whose environment makes Debian's python3-torch fair: OpenBLAS (OpenMP build) preloaded in place
/// of the reference libblas.so.3 it links, and the instruction-set variables of <see cref="CpuIsaEnvironment.Peer"/>
/// (native: OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE, ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA unset). Only that process
/// sees the preload; the system's BLAS alternative is left alone.
/// </summary>
public static class PeerRunner
{
    /// <summary>Debian's libopenblas0-openmp; override with PTM_PEER_BLAS.</summary>
    public const string DefaultOpenBlas = "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3";

    /// <summary>The interpreter Debian's python3-torch is installed for; override with PTM_PEER_PYTHON.</summary>
    public const string DefaultPython = "/usr/bin/python3";

    /// <summary>The peer's interpreter, script, BLAS and variables for <paramref name="threads"/> threads under <paramref name="isa"/>.</summary>
    public static PeerEnvironment Environment(int threads, CpuIsa isa = CpuIsa.Native)
    {
        string python = System.Environment.GetEnvironmentVariable("PTM_PEER_PYTHON") is { Length: > 0 } p ? p : DefaultPython;
        string blas = System.Environment.GetEnvironmentVariable("PTM_PEER_BLAS") is { Length: > 0 } b ? b : DefaultOpenBlas;
        string script = RepoPaths.InRepo("benchmarks", "peers", "pytorch_peer.py");
        var variables = CpuIsaEnvironment.Peer(isa);
        return new PeerEnvironment(python, script, blas, variables.Where(kv => kv.Value is null).Select(kv => kv.Key).ToList(), threads,
            CpuIsaEnvironment.Name(isa), variables.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value!));
    }

    /// <summary>
    /// Checks that the peer can run here (OpenBLAS and the interpreter present); null when it can, else why not.
    /// </summary>
    public static string? Unavailable(PeerEnvironment env)
    {
        if (env.LdPreload is string blas && !File.Exists(blas))
            return $"OpenBLAS (OpenMP) not found at {blas}: apt-get install libopenblas0-openmp " +
                "(without it Debian's python3-torch uses the reference BLAS, 27-43x slower, which is no fair peer)";
        if (Path.IsPathRooted(env.Python) && !File.Exists(env.Python))
            return $"python interpreter {env.Python} not found (set PTM_PEER_PYTHON)";
        return null;
    }

    /// <summary>
    /// Where what the peer reports it ran differs from what its environment asked for: OpenBLAS's core against
    /// OPENBLAS_CORETYPE, ATen's dispatch against ATEN_CPU_CAPABILITY. Empty when they agree or the peer did not say.
    /// </summary>
    public static IReadOnlyList<string> Mismatches(PeerEnvironment env, PeerBlas? blas, string? cpuCapability)
    {
        var notes = new List<string>();
        if (env.Set?.TryGetValue("OPENBLAS_CORETYPE", out string? core) == true && blas?.Core is string ran
            && !string.Equals(core, ran, StringComparison.OrdinalIgnoreCase))
            notes.Add($"the peer asked OpenBLAS for {core} kernels but it ran {ran}");
        if (env.Set?.TryGetValue("ATEN_CPU_CAPABILITY", out string? capability) == true && cpuCapability is string dispatched
            && !string.Equals(capability, dispatched, StringComparison.OrdinalIgnoreCase))
            notes.Add($"the peer asked ATen for {capability} but it dispatched to {dispatched}");
        return notes;
    }

    public static void WritePlan(ThroughputPlan plan, string path) => File.WriteAllText(path, JsonSerializer.Serialize(plan, ThroughputRunner.Json));

    /// <summary>The peer's command line and environment: the script, its threads, then <paramref name="arguments"/>.</summary>
    internal static ProcessStartInfo StartInfo(PeerEnvironment env, params string[] arguments)
    {
        var start = new ProcessStartInfo(env.Python) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in new[] { env.Script, "--threads", env.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(arguments))
            start.ArgumentList.Add(a);
        foreach (string v in env.Unset) start.Environment.Remove(v);
        foreach (var (name, value) in env.Set ?? new Dictionary<string, string>()) start.Environment[name] = value;
        if (env.LdPreload is not null) start.Environment["LD_PRELOAD"] = env.LdPreload;
        start.Environment["OMP_NUM_THREADS"] = env.Threads.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return start;
    }

    /// <summary>One training case of the plan at <paramref name="planPath"/> in a peer process of its own (the peer's
    /// <c>--case</c> mode); for <see cref="PairedRounds"/>.</summary>
    public static PeerCaseRun RunTrainingCase(PeerEnvironment env, string planPath, string caseName)
    {
        using var process = Process.Start(StartInfo(env, "--plan", planPath, "--case", caseName))
            ?? throw new InvalidOperationException($"could not start {env.Python}");
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"the peer's {caseName} exited with code {process.ExitCode}");
        var result = JsonSerializer.Deserialize<PeerCaseOutput>(output.Trim().Split('\n')[^1], ThroughputRunner.Json);
        var training = result?.Training?.SingleOrDefault() ?? throw new InvalidOperationException($"the peer's {caseName} printed no training result");
        return new PeerCaseRun(training, result.Blas, result.CpuCapability);
    }

    sealed record PeerCaseOutput(IReadOnlyList<PeerTraining>? Training, PeerBlas? Blas, string? CpuCapability);

    /// <summary>Runs the peer and sets its figures against <paramref name="ptm"/>'s. Never throws for a missing
    /// interpreter, torch or OpenBLAS: the section then says what is missing.</summary>
    public static PeerSection Run(ThroughputPlan plan, ThroughputReport ptm, Action<string> log, CpuIsa isa = CpuIsa.Native)
    {
        var env = Environment(ptm.Machine.TorchThreads, isa);
        if (Unavailable(env) is string reason) return PeerSection.Unavailable(reason, env);

        string planPath = Path.Combine(Path.GetTempPath(), $"ptm-peer-plan-{Guid.NewGuid():N}.json");
        try
        {
            WritePlan(plan, planPath);
            var start = StartInfo(env, "--plan", planPath);

            log($"running the PyTorch peer: LD_PRELOAD={env.LdPreload} OMP_NUM_THREADS={env.Threads} " +
                $"{string.Concat((env.Set ?? new Dictionary<string, string>()).Select(kv => $"{kv.Key}={kv.Value} "))}{env.Python} {env.Script} ...");
            Process process;
            try
            {
                process = Process.Start(start) ?? throw new Win32Exception($"could not start {env.Python}");
            }
            catch (Win32Exception e)
            {
                return PeerSection.Unavailable($"cannot start {env.Python}: {e.Message} (set PTM_PEER_PYTHON)", env);
            }
            using (process)
            {
                string output = process.StandardOutput.ReadToEnd();
                process.WaitForExit();
                if (process.ExitCode != 0)
                    return PeerSection.Unavailable($"the peer exited with code {process.ExitCode}", env);
                PeerReport peer;
                try
                {
                    peer = PeerReport.Parse(output);
                }
                catch (JsonException e)
                {
                    return PeerSection.Unavailable($"the peer's output is not the expected JSON: {e.Message}", env);
                }
                if (!peer.Available && peer.Reason?.Contains("torch", StringComparison.Ordinal) == true)
                    peer = peer with { Reason = peer.Reason + " (apt-get install python3-torch)" };
                return PeerSection.Compare(ptm, peer, env);
            }
        }
        finally
        {
            if (File.Exists(planPath)) File.Delete(planPath);
        }
    }
}
