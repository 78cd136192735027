using System.Runtime.InteropServices;
using Ptm.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Ptm.Kernels;

/// <summary>
/// Our own CPU kernels (build/native/ptm_kernels.c) for the pieces of GPT training that libtorch's eager operators
/// run far below the machine's speed at small shapes: tanh-GELU, causal self-attention and the LM loss's
/// cross-entropy, each forward and backward in one pass, with the gradients of the biases before GELU and attention
/// summed in their backward passes (docs/performance.md, "Fused kernels for GPT training"). They take part only
/// where autograd records a float32 CPU tensor, so training; evaluation, generation and everything else keep
/// libtorch's operators. Where the library is missing, the CPU lacks AVX-512, or PTM_FUSED_KERNELS=0, the same
/// modules use libtorch's operators instead.
/// </summary>
public static unsafe class FusedKernels
{
    static readonly delegate* unmanaged<float*, float*, long, int, void> geluForward;
    static readonly delegate* unmanaged<float*, float*, float*, long, int, void> geluBackward;
    static readonly delegate* unmanaged<float*, float*, float*, float*, long, long, int, void> geluBiasBackward;
    static readonly delegate* unmanaged<float*, float*, float*, long, long, long, long, int, void> attentionForward;
    static readonly delegate* unmanaged<float*, float*, float*, float*, float*, float*, long, long, long, long, int, void> attentionBackward;
    static readonly delegate* unmanaged<float*, long*, long, long, long, float*, double*, long*, int, long> crossEntropyForward;
    static readonly delegate* unmanaged<float*, long*, float*, long, long, long, float, float*, int, void> crossEntropyBackward;

    /// <summary>Whether the kernels were loaded and this CPU can run them.</summary>
    public static bool Available { get; }

    /// <summary>Whether the models use the kernels (initially: available and PTM_FUSED_KERNELS is not 0); never true
    /// where they are not <see cref="Available"/>. Process-wide.</summary>
    public static bool Enabled { get => enabled; set => enabled = value && Available; }

    static bool enabled;

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
        string path = Path.Combine(TorchRuntime.NativeDirectory, "libptm_kernels.so");
        if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad(path, out var lib)) return;
        var supported = (delegate* unmanaged<int>)NativeLibrary.GetExport(lib, "ptm_kernels_supported");
        if (supported() == 0) return;
        geluForward = (delegate* unmanaged<float*, float*, long, int, void>)NativeLibrary.GetExport(lib, "ptm_gelu_forward");
        geluBackward = (delegate* unmanaged<float*, float*, float*, long, int, void>)NativeLibrary.GetExport(lib, "ptm_gelu_backward");
        geluBiasBackward = (delegate* unmanaged<float*, float*, float*, float*, long, long, int, void>)
            NativeLibrary.GetExport(lib, "ptm_gelu_bias_backward");
        attentionForward = (delegate* unmanaged<float*, float*, float*, long, long, long, long, int, void>)
            NativeLibrary.GetExport(lib, "ptm_causal_attention_forward");
        attentionBackward = (delegate* unmanaged<float*, float*, float*, float*, float*, float*, long, long, long, long, int, void>)
            NativeLibrary.GetExport(lib, "ptm_causal_attention_backward");
        crossEntropyForward = (delegate* unmanaged<float*, long*, long, long, long, float*, double*, long*, int, long>)
            NativeLibrary.GetExport(lib, "ptm_cross_entropy_forward");
        crossEntropyBackward = (delegate* unmanaged<float*, long*, float*, long, long, long, float, float*, int, void>)
            NativeLibrary.GetExport(lib, "ptm_cross_entropy_backward");
        Available = true;
        Enabled = Environment.GetEnvironmentVariable("PTM_FUSED_KERNELS") != "0";
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
    public static Tensor Gelu(Tensor x) => GeluFunction.apply(x);

    /// <summary>
    /// GELU(h) for a linear layer's output <paramref name="h"/> = x·Wᵀ + b (…, n) computed with its bias detached, and
    /// that <paramref name="bias"/>'s gradient, Σ over rows of dh, summed in GELU's backward pass while the rows are in
    /// cache (libtorch's linear layer would make a pass of its own for it). The bias is read for nothing else.
    /// </summary>
    public static Tensor GeluWithBias(Tensor h, Tensor bias) => GeluFunction.apply(h, bias);

    /// <summary>
    /// Causal multi-head self-attention on the packed projection <paramref name="qkv"/> (B, T, 3C), laid out
    /// [q | k | v] with heads of C/nh columns each, to the heads merged (B, T, C); no dropout. With
    /// <paramref name="bias"/> (3C), qkv was computed with that bias detached, and the backward pass returns its gradient
    /// too, summed per head while the rows are in cache, as <see cref="GeluWithBias"/> does.
    /// </summary>
    public static Tensor CausalAttention(Tensor qkv, int nHead, Tensor? bias = null) =>
        bias is null ? CausalAttentionFunction.apply(qkv, nHead) : CausalAttentionFunction.apply(qkv, nHead, bias);

    /// <summary>
    /// Cross-entropy of <paramref name="logits"/> (N, V) against class ids <paramref name="targets"/> (N, int64), rows
    /// whose target is <paramref name="ignoreIndex"/> left out: the sum over the other rows divided by
    /// <paramref name="divisor"/>, or by how many they are when it is null (the mean, as libtorch's default). A scalar.
    /// </summary>
    /// <exception cref="ArgumentException">A target is neither <paramref name="ignoreIndex"/> nor in [0, V).</exception>
    public static Tensor CrossEntropy(Tensor logits, Tensor targets, double? divisor, long ignoreIndex = -100) =>
        CrossEntropyFunction.apply(logits, targets, divisor ?? double.NaN, ignoreIndex);

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
            geluForward(Data(x), Data(y), x.numel(), Threads);
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
                geluBackward(Data(x), Data(dy), Data(dx), x.numel(), Threads);
                return [dx];
            }
            long n = x.size(-1);
            var dbias = empty(n);
            geluBiasBackward(Data(x), Data(dy), Data(dx), Data(dbias), x.numel() / n, n, Threads);
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
            var y = empty(B, T, C);                                           // (B, T, C)
            var p = empty(B, nh, T, Tp);                                      // (B, nh, T, Tp) probabilities
            attentionForward(Data(qkv), Data(y), Data(p), B, T, C, nh, Threads);
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
            var dbias = (bool)ctx.get_data("bias") ? empty(3 * C) : null;
            attentionBackward(Data(dy), Data(qkv), Data(y), Data(p), Data(dqkv), dbias is null ? null : Data(dbias), B, T, C, nh, Threads);
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
            var lse = empty(N);                                            // each row's log-sum-exp, for backward
            double sum;
            long count;
            long bad = crossEntropyForward(Data(logits), Ids(targets), N, V, ignore, Data(lse), &sum, &count, Threads);
            if (bad >= 0)
                throw new ArgumentException(
                    $"cross-entropy: target {targets[bad].item<long>()} at row {bad} is outside the {V} classes [0, {V}) and is not the ignore index {ignore}");
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
            crossEntropyBackward(Data(logits), Ids(targets), Data(lse), N, V, ignore, scale, Data(dlogits), Threads);
            return [dlogits, null!, null!, null!];
        }
    }
}
