using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Ptm.Kernels;

/// <summary>
/// Which compiled variant of our CPU kernels runs (build/native/ptm_kernels.c is compiled once per instruction set
/// into one library), or none.
/// </summary>
public enum KernelPath
{
    /// <summary>No kernels: the models use libtorch's operators.</summary>
    Off,
    /// <summary>Baseline x86-64 (SSE2, no FMA), vectorised by the compiler: runs on any x86-64 CPU.</summary>
    Portable,
    /// <summary>AVX2 with FMA3 (Haswell, Zen and later).</summary>
    Avx2,
    /// <summary>AVX-512 F/DQ/BW/VL with FMA (Skylake-SP, Zen 4 and later).</summary>
    Avx512,
}

/// <summary>
/// Our own CPU kernels (build/native/ptm_kernels.c) for the pieces of GPT training that libtorch's eager operators
/// run far below the machine's speed at small shapes: tanh-GELU, causal self-attention and the LM loss's
/// cross-entropy, each forward and backward in one pass, with the gradients of the biases before GELU and attention
/// summed in their backward passes (docs/performance.md, "Fused kernels"). They take part only
/// where autograd records a float32 CPU tensor, so training; evaluation, generation and everything else keep
/// libtorch's operators. The models reach them through <see cref="Ops"/>.
/// <para>
/// The library holds three variants (<see cref="KernelPath"/>); one is chosen once, process-wide: the best this CPU
/// can execute (<see cref="CpuFeatures"/>), capped by ATEN_CPU_CAPABILITY when that is set (<c>avx2</c>: at most
/// AVX2; <c>default</c>: portable), so the variables that make libtorch emulate an AVX2 machine make the kernels do so
/// too. PTM_KERNELS=avx512|avx2|portable|off forces a path; a path this CPU cannot execute falls back to the best
/// one it can, and <see cref="PathNote"/> says why. Tests switch paths with <see cref="Path"/>.
/// </para>
/// </summary>
public static unsafe class FusedKernels
{
    /// <summary>One variant's entry points.</summary>
    struct Entries
    {
        public delegate* unmanaged<float*, float*, long, int, void> GeluForward;
        public delegate* unmanaged<float*, float*, float*, long, int, void> GeluBackward;
        public delegate* unmanaged<float*, float*, float*, float*, long, long, int, void> GeluBiasBackward;
        public delegate* unmanaged<float*, float*, float*, long, long, long, long, int, void> AttentionForward;
        public delegate* unmanaged<float*, float*, float*, float*, float*, float*, long, long, long, long, int, void> AttentionBackward;
        public delegate* unmanaged<float*, long*, long, long, long, float*, double*, long*, int, long> CrossEntropyForward;
        public delegate* unmanaged<float*, long*, float*, long, long, long, float, float*, int, void> CrossEntropyBackward;
    }

    static readonly Entries[] variants = new Entries[4];        // indexed by KernelPath; Off's stays empty
    static readonly bool[] loaded = new bool[4];
    static Entries active;
    static KernelPath path;

    /// <summary>Whether libptm_kernels.so was found and loaded (any variant may then run where the CPU allows).</summary>
    public static bool LibraryLoaded { get; }

    /// <summary>Whether the models can use any kernels on this machine: the library loaded (every x86-64 CPU runs the
    /// portable variant).</summary>
    public static bool Available => LibraryLoaded;

    /// <summary>Whether the models use the kernels: <see cref="Path"/> is not <see cref="KernelPath.Off"/>.</summary>
    public static bool Enabled => path != KernelPath.Off;

    /// <summary>
    /// The variant the models use, process-wide. Setting a path this machine cannot run (see <see cref="CanRun"/>)
    /// selects the best one it can instead and says so in <see cref="PathNote"/>; setting a runnable one clears the
    /// note.
    /// </summary>
    public static KernelPath Path
    {
        get => path;
        set
        {
            if (CanRun(value))
            {
                Select(value, null);
                return;
            }
            var fallback = Best(KernelPath.Avx512, CanRun);
            Select(fallback, FallbackNote(value, fallback, WhyNot));
        }
    }

    /// <summary>
    /// Why the active path is not the one asked for or the best this CPU has (PTM_KERNELS naming a path this CPU cannot
    /// execute, an unknown PTM_KERNELS value, ATEN_CPU_CAPABILITY capping the choice, the library missing), or null.
    /// For the CLI to show; the library never prints it.
    /// </summary>
    public static string? PathNote { get; private set; }

    /// <summary>Whether this machine can run <paramref name="candidate"/>: the library loaded and the CPU has its
    /// instructions. <see cref="KernelPath.Off"/> always runs.</summary>
    public static bool CanRun(KernelPath candidate) => candidate == KernelPath.Off || (loaded[(int)candidate] && CpuHas(candidate));

    /// <summary>Why <see cref="CanRun"/> is false for <paramref name="candidate"/> (a phrase), or null where it can run.</summary>
    public static string? WhyNot(KernelPath candidate) =>
        CanRun(candidate) ? null
        : !LibraryLoaded ? $"libptm_kernels.so was not built or not found in {TorchRuntime.NativeDirectory}"
        : !CpuHas(candidate) ? $"this CPU lacks {Name(candidate)} ({CpuFeatures.Describe()})"
        : $"libptm_kernels.so has no {Name(candidate)} variant";

    /// <summary>The path's name as PTM_KERNELS spells it: avx512, avx2, portable or off.</summary>
    public static string Name(KernelPath p) => p switch
    {
        KernelPath.Avx512 => "avx512",
        KernelPath.Avx2 => "avx2",
        KernelPath.Portable => "portable",
        _ => "off",
    };

    static bool CpuHas(KernelPath p) => p switch
    {
        KernelPath.Avx512 => CpuFeatures.HasAvx512,
        KernelPath.Avx2 => CpuFeatures.HasAvx2Fma,
        _ => true,                                               // Off, and Portable: baseline x86-64
    };

    /// <summary>The fastest path up to <paramref name="atMost"/> that <paramref name="canRun"/> allows (Off when none).</summary>
    static KernelPath Best(KernelPath atMost, Func<KernelPath, bool> canRun)
    {
        for (var p = atMost; p > KernelPath.Off; p--)
            if (canRun(p)) return p;
        return KernelPath.Off;
    }

    static string FallbackNote(KernelPath asked, KernelPath fallback, Func<KernelPath, string?> whyNot) =>
        $"the {Name(asked)} kernels cannot run here ({whyNot(asked)}); using {Name(fallback)}";

    static void Select(KernelPath p, string? note)
    {
        active = variants[(int)p];
        path = p;
        PathNote = note;
    }

    /// <summary>
    /// The longest sequence the attention kernel takes. It keeps every row's probabilities for the backward pass,
    /// B·nh·T² floats (100 MiB per GPT-2-small layer at 2 × 1024); longer sequences go to libtorch's SDPA, whose
    /// flash kernel keeps only a log-sum-exp per row.
    /// </summary>
    public const long MaxAttentionLength = 1024;

    static FusedKernels()
    {
        TorchRuntime.EnsureInitialized();
        // Loaded after libtorch, so the library's libgomp.so.1 need binds to the OpenMP runtime libtorch already loaded.
        zeros(1).Dispose();
        string file = System.IO.Path.Combine(TorchRuntime.NativeDirectory, "libptm_kernels.so");
        if (OperatingSystem.IsLinux() && System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == Architecture.X64
            && NativeLibrary.TryLoad(file, out var lib))
        {
            LibraryLoaded = true;
            foreach (var p in new[] { KernelPath.Portable, KernelPath.Avx2, KernelPath.Avx512 })
                loaded[(int)p] = TryBind(lib, $"ptm_{Name(p)}_", out variants[(int)p]);
        }
        var (chosen, note) = Choose(Environment.GetEnvironmentVariable("PTM_KERNELS"),
            Environment.GetEnvironmentVariable("ATEN_CPU_CAPABILITY"), CanRun, WhyNot);
        Select(chosen, note);
    }

    /// <summary>
    /// The path for PTM_KERNELS = <paramref name="asked"/> and ATEN_CPU_CAPABILITY = <paramref name="aten"/> (either
    /// may be null) on a machine that can run what <paramref name="canRun"/> says, and the note that explains a
    /// choice other than the plain best: a forced path this machine cannot run (the best it can instead), an unknown
    /// value (automatic choice), ATEN_CPU_CAPABILITY capping the automatic choice (<c>avx2</c>: at most AVX2;
    /// <c>default</c>: portable; PTM_KERNELS overrides it), no library. Separate from the machine so tests can ask it
    /// about any CPU.
    /// </summary>
    internal static (KernelPath Path, string? Note) Choose(string? asked, string? aten, Func<KernelPath, bool> canRun,
                                                         Func<KernelPath, string?> whyNot)
    {
        asked = asked?.Trim().ToLowerInvariant();
        KernelPath? forced = asked switch
        {
            "off" or "0" => KernelPath.Off,
            "avx512" => KernelPath.Avx512,
            "avx2" => KernelPath.Avx2,
            "portable" => KernelPath.Portable,
            _ => null,
        };
        if (forced is KernelPath f)
        {
            if (canRun(f)) return (f, null);
            var fallback = Best(KernelPath.Avx512, canRun);
            return (fallback, $"PTM_KERNELS={asked}: {FallbackNote(f, fallback, whyNot)}");
        }
        var notes = new List<string>();
        if (!string.IsNullOrEmpty(asked) && asked != "auto")
            notes.Add($"PTM_KERNELS={asked} is not one of avx512, avx2, portable, off, auto; choosing automatically");
        var cap = aten?.Trim().ToLowerInvariant() switch
        {
            "default" => KernelPath.Portable,
            "avx2" => KernelPath.Avx2,
            _ => KernelPath.Avx512,
        };
        var best = Best(cap, canRun);
        if (!canRun(KernelPath.Portable))
            notes.Add($"no kernels: {whyNot(KernelPath.Portable)}; libtorch's operators serve");
        else if (best != Best(KernelPath.Avx512, canRun))
            notes.Add($"ATEN_CPU_CAPABILITY={aten!.Trim()} caps the kernels at {Name(best)} (PTM_KERNELS overrides)");
        return (best, notes.Count == 0 ? null : string.Join("; ", notes));
    }

    static bool TryBind(nint lib, string prefix, out Entries e)
    {
        e = default;
        nint Get(string name) => NativeLibrary.TryGetExport(lib, prefix + name, out var f) ? f : 0;
        nint[] f = [Get("gelu_forward"), Get("gelu_backward"), Get("gelu_bias_backward"), Get("causal_attention_forward"),
            Get("causal_attention_backward"), Get("cross_entropy_forward"), Get("cross_entropy_backward")];
        if (f.Any(x => x == 0)) return false;
        e.GeluForward = (delegate* unmanaged<float*, float*, long, int, void>)f[0];
        e.GeluBackward = (delegate* unmanaged<float*, float*, float*, long, int, void>)f[1];
        e.GeluBiasBackward = (delegate* unmanaged<float*, float*, float*, float*, long, long, int, void>)f[2];
        e.AttentionForward = (delegate* unmanaged<float*, float*, float*, long, long, long, long, int, void>)f[3];
        e.AttentionBackward = (delegate* unmanaged<float*, float*, float*, float*, float*, float*, long, long, long, long, int, void>)f[4];
        e.CrossEntropyForward = (delegate* unmanaged<float*, long*, long, long, long, float*, double*, long*, int, long>)f[5];
        e.CrossEntropyBackward = (delegate* unmanaged<float*, long*, float*, long, long, long, float, float*, int, void>)f[6];
        return true;
    }

    /// <summary>Whether <paramref name="x"/> is a tensor the kernels take: recorded by autograd, float32, on the CPU.</summary>
    public static bool Applies(Tensor x) =>
        Enabled && x.requires_grad && x.dtype == ScalarType.Float32 && x.device_type == DeviceType.CPU && is_grad_enabled();

    /// <summary>
    /// Whether a linear layer's output x·Wᵀ + b feeds the kernels: autograd records it (grad mode on and
    /// <paramref name="x"/> or <paramref name="weight"/> requiring grad) and <paramref name="x"/> is float32 on the CPU.
    /// Decided before the product, because the kernels then take over the bias's gradient (see <see cref="GeluWithBias"/>).
    /// </summary>
    public static bool AppliesToProduct(Tensor x, Tensor weight) =>
        Enabled && (x.requires_grad || weight.requires_grad) && x.dtype == ScalarType.Float32
        && x.device_type == DeviceType.CPU && is_grad_enabled();

    /// <summary>GELU, tanh approximation (GPT-2's), with gradient.</summary>
    public static Tensor Gelu(Tensor x) => GeluFunction.apply(RequireEnabled(x));

    /// <summary>
    /// GELU(h) for a linear layer's output <paramref name="h"/> = x·Wᵀ + b (…, n) computed with its bias detached, and
    /// that <paramref name="bias"/>'s gradient, Σ over rows of dh, summed in GELU's backward pass while the rows are in
    /// cache (libtorch's linear layer would make a pass of its own for it). The bias is read for nothing else.
    /// </summary>
    public static Tensor GeluWithBias(Tensor h, Tensor bias) => GeluFunction.apply(RequireEnabled(h), bias);

    /// <summary>
    /// Causal multi-head self-attention on the packed projection <paramref name="qkv"/> (B, T, 3C), laid out
    /// [q | k | v] with heads of C/nh columns each, to the heads merged (B, T, C); no dropout. With
    /// <paramref name="bias"/> (3C), qkv was computed with that bias detached, and the backward pass returns its gradient
    /// too, summed per head while the rows are in cache, as <see cref="GeluWithBias"/> does.
    /// </summary>
    public static Tensor CausalAttention(Tensor qkv, int nHead, Tensor? bias = null) =>
        bias is null ? CausalAttentionFunction.apply(RequireEnabled(qkv), nHead) : CausalAttentionFunction.apply(RequireEnabled(qkv), nHead, bias);

    /// <summary>
    /// Cross-entropy of <paramref name="logits"/> (N, V) against class ids <paramref name="targets"/> (N, int64), rows
    /// whose target is <paramref name="ignoreIndex"/> left out: the sum over the other rows divided by
    /// <paramref name="divisor"/>, or by how many they are when it is null (the mean, as libtorch's default). A scalar.
    /// </summary>
    /// <exception cref="ArgumentException">A target is neither <paramref name="ignoreIndex"/> nor in [0, V).</exception>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, double? divisor, long ignoreIndex = -100) =>
        CrossEntropyFunction.apply(RequireEnabled(logits), targets, divisor ?? double.NaN, ignoreIndex);

    /// <summary>
    /// <paramref name="x"/>, once it is checked that a kernel variant is active and <paramref name="x"/> is a float32 CPU
    /// tensor: the kernels read raw float32 memory, so anything else must not reach them.
    /// </summary>
    static Tensor RequireEnabled(Tensor x)
    {
        if (!Enabled)
            throw new InvalidOperationException($"no fused-kernel variant is active (Path {Path}); ask Enabled before calling the kernels");
        if (x.dtype != ScalarType.Float32 || x.device_type != DeviceType.CPU)
            throw new ArgumentException($"the fused kernels take float32 CPU tensors, got {x.dtype} on {x.device_type}");
        return x;
    }

    /// <summary>Whether <see cref="CrossEntropy"/> takes these: logits (N, V) that <see cref="Applies"/>, int64 ids (N) on the CPU.</summary>
    public static bool CrossEntropyApplies(Tensor logits, Tensor targets) =>
        Applies(logits) && logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0)
        && targets.dtype == ScalarType.Int64 && targets.device_type == DeviceType.CPU;

    /// <summary>How many times each kernel's forward ran in this process (for tests that check which path a module took).</summary>
    internal static long GeluCalls, AttentionCalls, CrossEntropyCalls;

    static float* Data(Tensor t) => (float*)TensorMemory.Address(t);

    static long* Ids(Tensor t) => (long*)TensorMemory.Address(t);

    static int Threads => Math.Max(1, get_num_threads());

    /// <summary>GELU of vars[0]; with a bias as vars[1] (the layer's, detached from the product), its gradient too.</summary>
    sealed class GeluFunction : SingleTensorFunction<GeluFunction>
    {
        public override string Name => "PtmGelu";

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var x = ((Tensor)vars[0]).contiguous();
            var bias = vars.Length > 1 ? (Tensor)vars[1] : null;
            if (bias is not null && (x.dim() < 1 || x.size(-1) != bias.numel()))
                throw new ArgumentException(
                    $"GELU with bias: the layer's output must have {bias.numel()} columns, as its bias, got ({string.Join(", ", x.shape)})");
            var y = empty_like(x);
            active.GeluForward(Data(x), Data(y), x.numel(), Threads);
            Interlocked.Increment(ref GeluCalls);
            ctx.save_for_backward([x]);
            ctx.save_data("bias", bias is not null);
            return y;
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor grad)
        {
            var x = ctx.get_saved_variables()[0];
            var dy = grad.contiguous();
            var dx = empty_like(x);
            if (!(bool)ctx.get_data("bias"))
            {
                active.GeluBackward(Data(x), Data(dy), Data(dx), x.numel(), Threads);
                return [dx];
            }
            long n = x.size(-1);
            var dbias = empty(n, ScalarType.Float32);
            active.GeluBiasBackward(Data(x), Data(dy), Data(dx), Data(dbias), x.numel() / n, n, Threads);
            return [dx, dbias];
        }
    }

    sealed class CausalAttentionFunction : SingleTensorFunction<CausalAttentionFunction>
    {
        public override string Name => "PtmCausalAttention";

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var qkv = ((Tensor)vars[0]).contiguous();                      // (B, T, 3C)
            long nh = (int)vars[1];
            var bias = vars.Length > 2 ? (Tensor)vars[2] : null;            // (3C), for its gradient only
            if (nh < 1 || qkv.dim() != 3 || qkv.size(2) % (3 * nh) != 0)
                throw new ArgumentException(
                    $"causal attention: qkv must be (B, T, 3C) with C divisible by the {nh} heads, got ({string.Join(", ", qkv.shape)})");
            if (bias is not null && bias.numel() != qkv.size(2))
                throw new ArgumentException(
                    $"causal attention: a bias of {bias.numel()} needs qkv with as many columns, got ({string.Join(", ", qkv.shape)})");
            long B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
            long Tp = (T + 15) / 16 * 16;
            var y = empty([B, T, C], ScalarType.Float32);                                         // (B, T, C)
            var p = empty([B, nh, T, Tp], ScalarType.Float32);                                    // (B, nh, T, Tp) probabilities
            active.AttentionForward(Data(qkv), Data(y), Data(p), B, T, C, nh, Threads);
            Interlocked.Increment(ref AttentionCalls);
            ctx.save_for_backward([qkv, y.detach(), p]);   // the output detached: saved with its grad_fn it would keep its own node alive
            ctx.save_data("nh", nh);
            ctx.save_data("bias", bias is not null);
            return y;
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor grad)
        {
            var saved = ctx.get_saved_variables();
            Tensor qkv = saved[0], y = saved[1], p = saved[2];
            long nh = (long)ctx.get_data("nh");
            long B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
            var dy = grad.contiguous();
            var dqkv = empty_like(qkv);
            var dbias = (bool)ctx.get_data("bias") ? empty(3 * C, ScalarType.Float32) : null;
            active.AttentionBackward(Data(dy), Data(qkv), Data(y), Data(p), Data(dqkv), dbias is null ? null : Data(dbias), B, T, C, nh, Threads);
            return dbias is null ? [dqkv, null!] : [dqkv, null!, dbias];
        }
    }

    sealed class CrossEntropyFunction : SingleTensorFunction<CrossEntropyFunction>
    {
        public override string Name => "PtmCrossEntropy";

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var logits = ((Tensor)vars[0]).contiguous();                   // (N, V)
            var targets = ((Tensor)vars[1]).contiguous();                  // (N)
            double divisor = (double)vars[2];
            long ignore = (long)vars[3];
            long N = logits.size(0), V = logits.size(1);
            var lse = empty(N, ScalarType.Float32);                                          // each row's log-sum-exp, for backward
            double sum;
            long count;
            long bad = active.CrossEntropyForward(Data(logits), Ids(targets), N, V, ignore, Data(lse), &sum, &count, Threads);
            if (bad >= 0)
                throw new ArgumentException(
                    $"cross-entropy: target {Ids(targets)[bad]} at row {bad} is outside the {V} classes [0, {V}) and is not the ignore index {ignore}");
            if (double.IsNaN(divisor)) divisor = count;                   // the mean; 0/0 = NaN when every row is ignored, as libtorch
            Interlocked.Increment(ref CrossEntropyCalls);
            ctx.save_for_backward([logits, targets, lse]);
            ctx.save_data("divisor", divisor);
            ctx.save_data("ignore", ignore);
            return tensor((float)(sum / divisor));
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor grad)
        {
            var saved = ctx.get_saved_variables();
            Tensor logits = saved[0], targets = saved[1], lse = saved[2];
            double divisor = (double)ctx.get_data("divisor");
            long ignore = (long)ctx.get_data("ignore");
            long N = logits.size(0), V = logits.size(1);
            var dlogits = empty_like(logits);
            float scale = (float)(grad.item<float>() / divisor);
            active.CrossEntropyBackward(Data(logits), Ids(targets), Data(lse), N, V, ignore, scale, Data(dlogits), Threads);
            return [dlogits, null!, null!, null!];
        }
    }
}
