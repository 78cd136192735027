using System.Runtime.InteropServices;
using Ptm.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace Ptm.Modeling;

/// <summary>
/// Our own CPU kernels (build/native/ptm_kernels.c) for the two pieces of GPT training that libtorch's eager operators
/// run far below the machine's speed at small shapes: tanh-GELU and causal self-attention, each forward and backward
/// in one pass (docs/performance.md, "Fused kernels for GPT training"). They take part only where autograd records a float32 CPU
/// tensor, so training; evaluation, generation and everything else keep libtorch's operators. Where the library is
/// missing, the CPU lacks AVX-512, or PTM_FUSED_KERNELS=0, the same modules use libtorch's operators instead.
/// </summary>
public static unsafe class FusedKernels
{
    static readonly delegate* unmanaged<float*, float*, long, int, void> geluForward;
    static readonly delegate* unmanaged<float*, float*, float*, long, int, void> geluBackward;
    static readonly delegate* unmanaged<float*, float*, float*, long, long, long, long, int, void> attentionForward;
    static readonly delegate* unmanaged<float*, float*, float*, float*, float*, long, long, long, long, int, void> attentionBackward;

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
        attentionForward = (delegate* unmanaged<float*, float*, float*, long, long, long, long, int, void>)
            NativeLibrary.GetExport(lib, "ptm_causal_attention_forward");
        attentionBackward = (delegate* unmanaged<float*, float*, float*, float*, float*, long, long, long, long, int, void>)
            NativeLibrary.GetExport(lib, "ptm_causal_attention_backward");
        Available = true;
        Enabled = Environment.GetEnvironmentVariable("PTM_FUSED_KERNELS") != "0";
    }

    /// <summary>Whether <paramref name="x"/> is a tensor the kernels take: recorded by autograd, float32, on the CPU.</summary>
    public static bool Applies(Tensor x) =>
        Enabled && x.requires_grad && x.dtype == ScalarType.Float32 && x.device_type == DeviceType.CPU && is_grad_enabled();

    /// <summary>GELU, tanh approximation (GPT-2's), with gradient.</summary>
    public static Tensor Gelu(Tensor x) => GeluFunction.apply(x);

    /// <summary>
    /// Causal multi-head self-attention on the packed projection <paramref name="qkv"/> (B, T, 3C), laid out
    /// [q | k | v] with heads of C/nh columns each, to the heads merged (B, T, C); no dropout.
    /// </summary>
    public static Tensor CausalAttention(Tensor qkv, int nHead) => CausalAttentionFunction.apply(qkv, nHead);

    /// <summary>How many times each kernel's forward ran in this process (for tests that check which path a module took).</summary>
    internal static long GeluCalls, AttentionCalls;

    static float* Data(Tensor t) => (float*)TensorMemory.Address(t);

    static int Threads => Math.Max(1, get_num_threads());

    sealed class GeluFunction : SingleTensorFunction<GeluFunction>
    {
        public override string Name => "PtmGelu";

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var x = ((Tensor)vars[0]).contiguous();
            var y = empty_like(x);
            geluForward(Data(x), Data(y), x.numel(), Threads);
            Interlocked.Increment(ref GeluCalls);
            ctx.save_for_backward([x]);
            return y;
        }

        public override List<Tensor> backward(AutogradContext ctx, Tensor grad)
        {
            var x = ctx.get_saved_variables()[0];
            var dy = grad.contiguous();
            var dx = empty_like(x);
            geluBackward(Data(x), Data(dy), Data(dx), x.numel(), Threads);
            return [dx];
        }
    }

    sealed class CausalAttentionFunction : SingleTensorFunction<CausalAttentionFunction>
    {
        public override string Name => "PtmCausalAttention";

        public override Tensor forward(AutogradContext ctx, params object[] vars)
        {
            var qkv = ((Tensor)vars[0]).contiguous();                      // (B, T, 3C)
            long nh = (int)vars[1];
            if (nh < 1 || qkv.dim() != 3 || qkv.size(2) % (3 * nh) != 0)
                throw new ArgumentException(
                    $"causal attention: qkv must be (B, T, 3C) with C divisible by the {nh} heads, got ({string.Join(", ", qkv.shape)})");
            long B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
            long Tp = (T + 15) / 16 * 16;
            var y = empty(B, T, C);                                           // (B, T, C)
            var p = empty(B, nh, T, Tp);                                      // (B, nh, T, Tp) probabilities
            attentionForward(Data(qkv), Data(y), Data(p), B, T, C, nh, Threads);
            Interlocked.Increment(ref AttentionCalls);
            ctx.save_for_backward([qkv, y.detach(), p]);   // the output detached: saved with its grad_fn it would keep its own node alive
            ctx.save_data("nh", nh);
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
            attentionBackward(Data(dy), Data(qkv), Data(y), Data(p), Data(dqkv), B, T, C, nh, Threads);
            return [dqkv, null!];
        }
    }
}
