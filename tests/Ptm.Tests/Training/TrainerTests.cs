using Ptm.Modeling;
using Ptm.Tests.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Training;

/// <summary>In-memory data: micro-batch i is drawn from a generator seeded with i, so it is a pure function of i.</summary>
sealed class SyntheticData(int vocab, int batch, int block) : ITrainingData
{
    public Func<long, (Tensor, Tensor)>? Override { get; init; }

    public (Tensor Inputs, Tensor Targets) TrainBatch(long index)
    {
        if (Override is not null) return Override(index);
        return Window(index, batch);
    }

    public (Tensor, Tensor) Window(long seed, int rows)
    {
        // A learnable pattern: next token = (token + 1) mod vocab, with a random start per row.
        var g = new torch.Generator((ulong)seed + 1);
        var start = randint(0, vocab, new long[] { rows, 1 }, generator: g);
        var seq = (start + arange(block + 1).unsqueeze(0)) % vocab;     // (rows, block+1)
        return (seq[.., ..block].contiguous(), seq[.., 1..].contiguous());
    }

    public IEnumerable<(Tensor Inputs, Tensor Targets)> ValidationBatches(int maxBatches)
    {
        for (int i = 0; i < maxBatches; i++) yield return Window(1_000_000 + i, batch);
    }

    public double ValidationTokensPerByte => 0.5;
}

public class TrainerTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-trainer-" + Guid.NewGuid().ToString("N"));
    static readonly ITokenizer Tokenizer = new CharTokenizer("abcdefghijk".Select(c => c.ToString()));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
    }

    static TrainingConfig Config(int steps) => new()
    {
        BatchSize = 4, BlockSize = 8, MaxSteps = steps, LearningRate = 3e-3, MinLr = 3e-4, WarmupSteps = 2,
        EvalInterval = 1000, EvalIters = 2, LogInterval = 1, CheckpointInterval = 1000, Seed = 7,
    };

    static Gpt NewModel(double dropout = 0)
    {
        manual_seed(42);
        return new Gpt(GptModelTests.Tiny(dropout: dropout));
    }

    /// <summary>
    /// One optimiser step over two unequal micro-batches (4 + 2 rows) must equal one step over the 6-row batch: the
    /// loss is normalised by the step's token count, not each micro-batch's. Run in float64 so that the comparison
    /// is about the arithmetic, not about the order of float32 sums: AdamW's first step is lr * g / (|g| + eps), so a
    /// float32 rounding difference in a gradient that is zero in exact arithmetic (attention's key bias) moves a weight
    /// by up to lr, while in float64 such noise is ~1e-17 against eps = 1e-8. A wrong normaliser (e.g. each
    /// micro-batch's own mean) scales the 2-row batch's gradient by 3 and fails by orders of magnitude.
    /// </summary>
    [Fact]
    public void AccumulatingMicroBatchesEqualsOneLargeBatch()
    {
        var data = new SyntheticData(11, 4, 8);
        var (x, y) = data.Window(5, 6);
        var big = new SyntheticData(11, 6, 8) { Override = _ => (x, y) };
        var split = new SyntheticData(11, 4, 8) { Override = i => i % 2 == 0 ? (x[..4], y[..4]) : (x[4..], y[4..]) };

        var a = NewModel();
        a.to(ScalarType.Float64);
        new Trainer(new CausalLmObjective(a, Tokenizer, big), Config(1) with { BatchSize = 6 }, Path.Combine(dir, "a")).Run();
        var b = NewModel();
        b.to(ScalarType.Float64);
        new Trainer(new CausalLmObjective(b, Tokenizer, split), Config(1) with { GradientAccumulationSteps = 2 }, Path.Combine(dir, "b")).Run();

        var sa = a.state_dict();
        foreach (var (name, t) in b.state_dict())
        {
            double diff = (t - sa[name]).abs().max().item<double>();
            Assert.True(diff < 1e-10, $"{name} differs between accumulated and single-batch updates by {diff}");
        }
        // And the update really happened: weights moved from their initial values by about the learning rate.
        var initial = NewModel().state_dict()["transformer.wte.weight"].to(ScalarType.Float64);
        Assert.True((initial - sa["transformer.wte.weight"]).abs().max().item<double>() > 1e-4);
    }

    /// <summary>
    /// The same property in float32 (the training precision, fused cross-entropy included), checked on the gradients
    /// the objective accumulates, before any optimiser step. Different summation orders (and BLAS kernels per ISA)
    /// give different roundings, so the bound is a float32 one: each gradient element is a sum over the step's 48
    /// target tokens of terms no larger than the model's largest gradient, so |difference| stays within
    /// 48 * 2^-23 * (largest |gradient|), here taken with a margin of 8. The divisor check at the end shows that
    /// bound is far below what a wrong normaliser produces.
    /// </summary>
    [Fact]
    public void AccumulatedGradientsEqualOneLargeBatchGradientsWithinFloat32Rounding()
    {
        var data = new SyntheticData(11, 4, 8);
        var (x, y) = data.Window(5, 6);
        var big = new SyntheticData(11, 6, 8) { Override = _ => (x, y) };
        var split = new SyntheticData(11, 4, 8) { Override = i => i % 2 == 0 ? (x[..4], y[..4]) : (x[4..], y[4..]) };

        Dictionary<string, Tensor> Gradients(Gpt model, ITrainingData d, int count, out double loss)
        {
            model.zero_grad();
            loss = new CausalLmObjective(model, Tokenizer, d).ForwardBackward(0, count).Loss;
            return model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        }

        var gBig = Gradients(NewModel(), big, 1, out double lossBig);
        var gSplit = Gradients(NewModel(), split, 2, out double lossSplit);
        double largest = gBig.Values.Max(g => g.abs().max().item<float>());
        double bound = 8 * 48 * Math.Pow(2, -23) * largest;

        double WorstDifference(Dictionary<string, Tensor> g, out string where)
        {
            double worst = 0;
            where = "";
            foreach (var (name, t) in g)
            {
                double d = (t - gBig[name]).abs().max().item<float>();
                if (d > worst) (worst, where) = (d, name);
            }
            return worst;
        }

        Assert.True(Math.Abs(lossSplit - lossBig) < 8 * 48 * Math.Pow(2, -23) * lossBig, $"step loss {lossSplit} vs {lossBig}");
        double worst = WorstDifference(gSplit, out string name);
        Assert.True(worst <= bound, $"{name}'s gradient differs between accumulated and single-batch steps by {worst} (bound {bound})");

        // Each micro-batch divided by its own token count (32 and 16 instead of 48): the gradient the bound must reject.
        var wrong = NewModel();
        wrong.zero_grad();
        foreach (var (xs, ys) in new[] { (x[..4], y[..4]), (x[4..], y[4..]) })
            Gpt.Loss(wrong.forward(xs), ys, normalizer: ys.numel()).backward();
        var gWrong = wrong.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.detach().clone());
        Assert.True(WorstDifference(gWrong, out _) > 100 * bound, "a wrong normaliser must be far outside the float32 bound");
    }

    [Fact]
    public void ResumeReproducesAnUninterruptedRunExactly()
    {
        const int n = 6;
        var data = new SyntheticData(11, 4, 8);
        // Dropout on, so the restored RNG state matters too.
        var straight = NewModel(dropout: 0.1);
        var full = new Trainer(new CausalLmObjective(straight, Tokenizer, data), Config(2 * n), Path.Combine(dir, "straight")).Run();

        var first = NewModel(dropout: 0.1);
        var runDir = Path.Combine(dir, "resumed");
        var trainer = new Trainer(new CausalLmObjective(first, Tokenizer, data), Config(2 * n), runDir);
        using var cancel = new CancellationTokenSource();
        trainer.StepCompleted += r => { if (r.Step == n) cancel.Cancel(); };
        var part1 = trainer.Run(cancel.Token);
        Assert.Equal(TrainingOutcome.Interrupted, part1.Outcome);
        Assert.Equal(n, part1.Step);

        manual_seed(999); // disturb the global generator: resume must restore it
        var second = NewModel(dropout: 0.1);
        var resumed = new Trainer(new CausalLmObjective(second, Tokenizer, data), Config(2 * n), runDir);
        resumed.Resume(Checkpoints.Latest(runDir)!);
        var part2 = resumed.Run();

        Assert.Equal(full.Losses, part1.Losses.Concat(part2.Losses));
        var s = straight.state_dict();
        foreach (var (name, t) in second.state_dict())
            Assert.True(t.eq(s[name]).all().item<bool>(), $"{name} differs after resume by {(t - s[name]).abs().max().item<float>()}");
    }

    [Fact]
    public void NonFiniteLossStopsNamingTheStepAndKeepsTheLastGoodCheckpoint()
    {
        var data = new SyntheticData(11, 4, 8);
        var model = NewModel();
        var runDir = Path.Combine(dir, "nan");
        new Trainer(new CausalLmObjective(model, Tokenizer, data), Config(2) with { CheckpointInterval = 1 }, runDir).Run();
        string good = Checkpoints.Latest(runDir)!;
        using (no_grad()) model.state_dict()["transformer.wte.weight"][3, 0] = float.NaN;
        var trainer = new Trainer(new CausalLmObjective(model, Tokenizer, data), Config(4) with { CheckpointInterval = 1 }, runDir);
        trainer.Resume(good);
        using (no_grad()) model.state_dict()["transformer.h.0.ln_1.weight"][0] = float.NaN;
        var e = Assert.Throws<NonFiniteLossException>(() => trainer.Run());
        Assert.Contains("at step 3", e.Message);
        Assert.Equal(good, Checkpoints.Latest(runDir));
        var (reloaded, _) = ModelFolder.LoadGpt(runDir);
        Assert.False(reloaded.state_dict()["transformer.h.0.ln_1.weight"].isnan().any().item<bool>());
    }

    [Fact]
    public void LiveTensorCountIsFlatAcross100Steps()
    {
        var data = new SyntheticData(11, 4, 8);
        var model = NewModel();
        var trainer = new Trainer(new CausalLmObjective(model, Tokenizer, data), Config(110), Path.Combine(dir, "leak"));
        var live = new Dictionary<int, long>();
        trainer.StepCompleted += r => live[r.Step] = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        trainer.Run();
        Assert.Equal(live[10], live[110]);
    }

    [Fact]
    public void LearningRateWarmsUpLinearlyThenFollowsTheCosineToTheFloor()
    {
        var s = new LearningRateSchedule(1.0, 0.1, 10, 110);
        Assert.Equal(0.1, s.At(0), 12);
        Assert.Equal(1.0, s.At(9), 12);
        Assert.Equal(1.0, s.At(10), 12);
        Assert.Equal(0.55, s.At(60), 12);      // half-way down the cosine
        Assert.Equal(0.1, s.At(110), 12);
        Assert.Equal(0.1, s.At(500), 12);
    }

    [Fact]
    public void WeightDecayAppliesToMatricesOnly()
    {
        var model = NewModel();
        var opt = OptimizerFactory.AdamW(model, 1e-3, 0.1, 0.9, 0.99);
        var groups = opt.ParamGroups.Cast<TorchSharp.Modules.AdamW.ParamGroup>().ToList();
        Assert.Equal(2, groups.Count);
        Assert.Equal(0.1, groups[0].Options.weight_decay);
        Assert.All(groups[0].Parameters, p => Assert.True(p.dim() == 2));
        Assert.Equal(0.0, groups[1].Options.weight_decay);
        Assert.All(groups[1].Parameters, p => Assert.True(p.dim() == 1));
        Assert.Equal(model.parameters().Count(), groups.Sum(g => g.Parameters.Count()));
    }

    [Fact]
    public void CheckpointIsCompleteAndLatestMovesOnlyAfterIt()
    {
        var data = new SyntheticData(11, 4, 8);
        var runDir = Path.Combine(dir, "ckpt");
        new Trainer(new CausalLmObjective(NewModel(), Tokenizer, data), Config(3) with { CheckpointInterval = 1 }, runDir).Run();
        string latest = Checkpoints.Latest(runDir)!;
        Assert.EndsWith("step-00000003", latest);
        foreach (var f in new[] { "config.json", "model.safetensors", "optimizer.bin", "trainer_state.json", "training.json", CharTokenizer.FileName })
            Assert.True(File.Exists(Path.Combine(latest, f)), f);
        // Only the newest two are kept, and no temporary folder is left behind.
        var names = Directory.GetDirectories(Path.Combine(runDir, Checkpoints.Folder)).Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(new[] { "step-00000002", "step-00000003" }, names);
        Assert.Equal(3, Checkpoints.LoadState(latest).Step);
    }
}
