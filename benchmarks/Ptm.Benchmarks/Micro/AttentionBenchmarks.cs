using BenchmarkDotNet.Attributes;
using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Benchmarks.Micro;

/// <summary>One causal self-attention forward (inference: eval mode, no autograd) at the default config's width.</summary>
public class AttentionBenchmarks
{
    const int B = 8, T = 128, C = 256, Heads = 4;
    CausalSelfAttention attention = null!;
    Tensor x = null!;

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        attention = new CausalSelfAttention(new GptConfig { NEmbd = C, NHead = Heads, NPositions = T, AttnPdrop = 0, ResidPdrop = 0 });
        attention.eval();
        x = randn(B, T, C);
    }

    [Benchmark(Description = "CausalSelfAttention forward B=8 T=128 C=256")]
    public long Forward()
    {
        using var _ = no_grad();
        using var y = attention.forward(x, null, null);
        return y.shape[1];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        x.Dispose();
        attention.Dispose();
    }
}
