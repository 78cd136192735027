using Ptm.Modeling;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Training;

/// <summary>The fused AdamW against hand-computed updates and against TorchSharp's own AdamW step.</summary>
public class FusedAdamWTests
{
    sealed class TwoParams : nn.Module
    {
        public readonly TorchSharp.Modules.Parameter weight = new(tensor(new float[,] { { 1f, -2f } }));
        public readonly TorchSharp.Modules.Parameter bias = new(tensor(new float[] { 3f }));
        public TwoParams() : base("two") => RegisterComponents();
    }

    /// <summary>
    /// First step, lr 0.1, weight decay 0.1, betas (0.9, 0.99): m̂ = g and v̂ = g², so each entry moves by lr·sign(g)
    /// (eps aside) after the decoupled decay p·(1 − lr·wd), which only the matrix gets.
    /// </summary>
    /// <summary>
    /// The kernel's hyper-parameters reach TorchScript as native Scalars. With a collector running all the while (here
    /// forced from another thread), a Scalar that nothing in managed code keeps alive is finalized, and freed, while
    /// the call still reads it: that once ended a 1,500-step pretraining run at step ~1,460 with "Expected false to be
    /// true ... Scalar::toLong". Many steps under constant collections must all complete, with the same parameters as
    /// the same steps taken without them.
    /// </summary>
    [Fact]
    public void StepsSurviveGarbageCollectionsDuringTheKernelCall()
    {
        static float[] Run(bool collect, int steps)
        {
            var m = new TwoParams();
            var opt = OptimizerFactory.AdamW(m, 0.01, 0.1, 0.9, 0.99);
            using var stop = new CancellationTokenSource();
            var collector = collect
                ? Task.Run(() => { while (!stop.IsCancellationRequested) { GC.Collect(); GC.WaitForPendingFinalizers(); } })
                : Task.CompletedTask;
            try
            {
                for (int i = 0; i < steps; i++)
                {
                    m.weight.grad = tensor(new float[,] { { 0.5f, -0.25f } });
                    m.bias.grad = tensor(new float[] { 1f });
                    opt.step();
                }
            }
            finally
            {
                stop.Cancel();
                collector.Wait();
            }
            return [.. m.weight.data<float>().ToArray(), .. m.bias.data<float>().ToArray()];
        }

        Assert.Equal(Run(collect: false, 20_000), Run(collect: true, 20_000));
    }

    [Fact]
    public void FirstStep_MatchesTheHandComputedUpdate_WithDecayOnMatricesOnly()
    {
        var m = new TwoParams();
        var opt = OptimizerFactory.AdamW(m, 0.1, 0.1, 0.9, 0.99);
        Assert.IsType<FusedAdamW>(opt);
        m.weight.grad = tensor(new float[,] { { 0.5f, -0.25f } });
        m.bias.grad = tensor(new float[] { 1f });
        opt.step();
        Assert.Equal(new[] { 0.99f * 1f - 0.1f, 0.99f * -2f + 0.1f }, m.weight.data<float>().ToArray(), new FloatTolerance(1e-6f));
        Assert.Equal(3f - 0.1f, m.bias.data<float>()[0], 1e-6f);

        // Second step with a new learning rate and the same gradient: m̂ = g, v̂ = g² again, so the move is lr·sign(g).
        OptimizerFactory.SetLearningRate(opt, 0.01);
        float w0 = m.weight.data<float>()[0];
        opt.step();
        Assert.Equal(w0 * (1 - 0.01f * 0.1f) - 0.01f, m.weight.data<float>()[0], 1e-6f);
    }

    /// <summary>
    /// Same model, same batches, fused against TorchSharp's managed step. One step agrees to rounding; later steps
    /// drift by a few ulps of the gradients, which Adam's normalisation (m / √v) can magnify for parameters whose
    /// gradients are tiny, so the bound after six steps is looser; the losses agree to six digits.
    /// </summary>
    [Fact]
    public void TrainingSteps_MatchTorchSharpsAdamW()
    {
        var cfg = new GptConfig { VocabSize = 50, NPositions = 16, NEmbd = 32, NLayer = 2, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 };
        manual_seed(7);
        var a = new Gpt(cfg);
        manual_seed(7);
        var b = new Gpt(cfg);
        var fused = OptimizerFactory.AdamW(a, 3e-3, 0.1, 0.9, 0.95);
        var managed = OptimizerFactory.AdamW(b, 3e-3, 0.1, 0.9, 0.95, fused: false);
        Assert.IsNotType<FusedAdamW>(managed);
        var g = new torch.Generator(11);
        for (int step = 0; step < 6; step++)
        {
            using var scope = NewDisposeScope();
            var window = randint(0, cfg.VocabSize, [4, 17], dtype: ScalarType.Int64, generator: g);
            var (x, y) = (window[.., ..16].contiguous(), window[.., 1..].contiguous());
            var losses = new List<float>();
            foreach (var (model, opt) in new (Gpt, TorchSharp.Modules.AdamW)[] { (a, fused), (b, managed) })
            {
                OptimizerFactory.SetLearningRate(opt, 3e-3 * (step + 1) / 6);
                opt.zero_grad();
                var loss = Gpt.Loss(model.forward(x), y);
                loss.backward();
                losses.Add(loss.item<float>());
                opt.step();
            }
            Assert.Equal(losses[0], losses[1], 1e-5f);
            float diff = MaxDifference(a, b);
            Assert.True(diff <= (step == 0 ? 1e-7f : 2e-5f), $"step {step}: parameters differ by {diff}");
        }
        // Training moved the weights (so the comparison compares something).
        manual_seed(7);
        Assert.True(MaxDifference(new Gpt(cfg), a) > 1e-3f);
    }

    static float MaxDifference(Gpt a, Gpt b)
    {
        using var scope = NewDisposeScope();
        return a.parameters().Zip(b.parameters()).Max(t => (t.First - t.Second).abs().max().item<float>());
    }

    sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance;
        public int GetHashCode(float obj) => 0;
    }
}
