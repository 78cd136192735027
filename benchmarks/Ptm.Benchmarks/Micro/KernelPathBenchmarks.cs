using BenchmarkDotNet.Attributes;
using Ptm.Kernels;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Micro;

/// <summary>
/// Ptm's fused kernels at the default training shape (batch 16 × 128, C = 256, 4 heads, vocab 2048), forward +
/// backward, on each compiled variant this CPU can run (<see cref="KernelPath"/>): what each instruction set buys per
/// kernel. <c>micro --filter '*KernelPath*'</c>; the libtorch counterparts are in <see cref="TrainingStepBenchmarks"/>.
/// </summary>
public class KernelPathBenchmarks
{
    const int B = 16, T = 128, C = 256, Heads = 4, Vocab = 2048;
    Tensor packed = null!, inner = null!, logits = null!, targets = null!;

    /// <summary>The variants this CPU can run.</summary>
    public static IEnumerable<KernelPath> Paths =>
        new[] { KernelPath.Avx512, KernelPath.Avx2, KernelPath.Portable }.Where(FusedKernels.CanRun);

    /// <summary>The variant under test.</summary>
    [ParamsSource(nameof(Paths))]
    public KernelPath Path { get; set; }

    /// <summary>Inputs of the default shape, and the variant made the process's.</summary>
    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        FusedKernels.Path = Path;
        packed = randn(B, T, 3 * C).requires_grad_(true);
        inner = randn(B, T, 4 * C).requires_grad_(true);
        logits = randn(B * T, Vocab).requires_grad_(true);
        targets = randint(0, Vocab, [B * T], dtype: ScalarType.Int64);
    }

    static void Backward(Tensor y, Tensor leaf)
    {
        y.backward([ones_like(y)]);
        leaf.grad?.Dispose();
        leaf.grad = null;
    }

    /// <summary>Causal attention on the packed projection, one layer.</summary>
    [Benchmark(Description = "causal attention fwd+bwd, 16 × 128, C 256, 4 heads")]
    public void Attention()
    {
        using var scope = NewDisposeScope();
        Backward(FusedKernels.CausalAttention(packed, Heads), packed);
    }

    /// <summary>tanh-GELU over one layer's inner activations.</summary>
    [Benchmark(Description = "GELU (tanh) fwd+bwd, 2048 × 1024")]
    public void Gelu()
    {
        using var scope = NewDisposeScope();
        Backward(FusedKernels.Gelu(inner), inner);
    }

    /// <summary>The LM loss over one batch's logits.</summary>
    [Benchmark(Description = "cross-entropy fwd+bwd, 2048 × 2048 logits")]
    public void CrossEntropy()
    {
        using var scope = NewDisposeScope();
        Backward(FusedKernels.CrossEntropy(logits, targets, null), logits);
    }

    /// <summary>Releases the inputs.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { packed, inner, logits, targets }) t.Dispose();
    }
}
