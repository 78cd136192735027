using Ptm.Kernels;
using BenchmarkDotNet.Attributes;
using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Micro;

/// <summary>
/// The pieces of one training step of the default config (configs/gpt-kjv.json: 4 layers, 256 wide, 4 heads, vocab
/// 2048, batch 16 × 128), each as forward + backward at that shape, and the whole forward + backward for reference.
/// Multiplied by how often each piece occurs per step (benchmarks/results/2026-11-27-performance-notes.md, "Where the default step's time goes"),
/// they show which costs a faster step would have to cut.
/// </summary>
public class TrainingStepBenchmarks
{
    const int B = 16, T = 128, C = 256, Heads = 4, Vocab = 2048;
    Tensor hidden = null!, packed = null!, inner = null!, logits = null!, targets = null!, ids = null!;
    Tensor weightQkv = null!, biasQkv = null!;
    Gpt model = null!;

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        hidden = randn(B, T, C).requires_grad_(true);
        packed = randn(B, T, 3 * C).requires_grad_(true);
        inner = randn(B, T, 4 * C).requires_grad_(true);
        logits = randn(B * T, Vocab).requires_grad_(true);
        targets = randint(0, Vocab, [B * T], dtype: ScalarType.Int64);
        ids = randint(0, Vocab, [B, T], dtype: ScalarType.Int64);
        weightQkv = (randn(3 * C, C) * 0.02).requires_grad_(true);
        biasQkv = zeros(3 * C).requires_grad_(true);
        model = new Gpt(new GptConfig { VocabSize = Vocab, NPositions = T, NEmbd = C, NLayer = 4, NHead = Heads, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 });
        model.train();
    }

    static void Backward(Tensor y, params Tensor[] leaves)
    {
        y.backward([ones_like(y)]);
        foreach (var leaf in leaves)
        {
            leaf.grad?.Dispose();
            leaf.grad = null;
        }
    }

    [Benchmark(Description = "linear 256→768 (c_attn) fwd+bwd, 2048 rows")]
    public void Linear()
    {
        using var scope = NewDisposeScope();
        Backward(nn.functional.linear(hidden, weightQkv, biasQkv), hidden, weightQkv, biasQkv);
    }

    [Benchmark(Description = "causal attention (split, SDPA, merge) fwd+bwd")]
    public void Attention()
    {
        using var scope = NewDisposeScope();
        var (q, k, v) = MultiHead.SplitPacked(packed, Heads);
        Backward(MultiHead.Attend(q, k, v, null, causal: true, dropout: 0.0), packed);
    }

    [Benchmark(Description = "causal attention, Ptm's fused kernel, fwd+bwd")]
    public void FusedAttention()
    {
        if (!FusedKernels.Enabled) return;     // PTM_KERNELS=off or no library: the models use the libtorch path above
        using var scope = NewDisposeScope();
        Backward(FusedKernels.CausalAttention(packed, Heads), packed);
    }

    [Benchmark(Description = "GELU (tanh), Ptm's fused kernel, fwd+bwd, 2048 × 1024")]
    public void FusedGelu()
    {
        if (!FusedKernels.Enabled) return;
        using var scope = NewDisposeScope();
        Backward(FusedKernels.Gelu(inner), inner);
    }

    [Benchmark(Description = "GELU (tanh) fwd+bwd, 2048 × 1024")]
    public void Gelu()
    {
        using var scope = NewDisposeScope();
        Backward(nn.functional.gelu(inner, TorchSharp.Modules.GELU.Approximate.tanh), inner);
    }

    [Benchmark(Description = "LayerNorm fwd+bwd, 2048 × 256")]
    public void LayerNorm()
    {
        using var scope = NewDisposeScope();
        Backward(nn.functional.layer_norm(hidden, [C]), hidden);
    }

    [Benchmark(Description = "cross-entropy fwd+bwd, 2048 × 2048 logits")]
    public void CrossEntropy()
    {
        using var scope = NewDisposeScope();
        Backward(nn.functional.cross_entropy(logits, targets), logits);
    }

    [Benchmark(Description = "cross-entropy, Ptm's fused kernel, fwd+bwd, 2048 × 2048 logits")]
    public void FusedCrossEntropy()
    {
        if (!FusedKernels.Enabled) return;
        using var scope = NewDisposeScope();
        Backward(FusedKernels.CrossEntropy(logits, targets, null), logits);
    }

    [Benchmark(Description = "whole model fwd+bwd (default config, batch 16 × 128; fused kernels as set)")]
    public void WholeStep()
    {
        using var scope = NewDisposeScope();
        model.zero_grad();
        var loss = Gpt.Loss(model.forward(ids), ids);
        loss.backward();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var t in new[] { hidden, packed, inner, logits, targets, ids, weightQkv, biasQkv }) t.Dispose();
        model.Dispose();
    }
}
