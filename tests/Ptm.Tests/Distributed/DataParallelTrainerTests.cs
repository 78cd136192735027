using Ptm.Distributed;
using Ptm.Modeling;
using Ptm.Tests.Modeling;
using Ptm.Tests.Training;
using Ptm.Tokenization;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Distributed;

/// <summary>The data-parallel trainer with in-process ranks (threads, <see cref="ThreadProcessGroup"/>), so the
/// arithmetic is checked on every machine, Open MPI installed or not.</summary>
public class DataParallelTrainerTests
{
    static readonly ITokenizer Tokenizer = new CharTokenizer("abcdefghijk".Select(c => c.ToString()));

    static TrainingConfig Config(int steps) => new()
    {
        BatchSize = 4, BlockSize = 8, MaxSteps = steps, LearningRate = 3e-3, MinLr = 3e-4, WarmupSteps = 2,
        EvalInterval = 1000, EvalIters = 1, LogInterval = 1, CheckpointInterval = 1000, Seed = 7,
    };

    static Gpt NewModel()
    {
        manual_seed(42);
        return new Gpt(GptModelTests.Tiny());
    }

    /// <summary>Runs <paramref name="rank"/> on one thread per rank and returns their results (rank order).</summary>
    static T[] OnRanks<T>(int size, Func<int, T> rank)
    {
        var results = new T[size];
        var errors = new Exception?[size];
        var threads = Enumerable.Range(0, size).Select(r => new Thread(() =>
        {
            try { results[r] = rank(r); }
            catch (Exception e) { errors[r] = e; }
        })).ToList();
        threads.ForEach(t => t.Start());
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(2)), "a rank did not finish");
        foreach (var e in errors) if (e is not null) throw new AggregateException(e);
        return results;
    }

    /// <summary>
    /// Two ranks with batch B must train exactly like one process running B with two accumulation steps: same losses,
    /// bit-identical weights on both ranks (a two-term sum is the same in either order). Rank 1 starts from different
    /// weights to show that rank 0's are broadcast at the start, as DDP does. A wrong normaliser (each rank its own
    /// token count) doubles every gradient and a wrong data slice changes the losses: both fail by far.
    /// </summary>
    [Fact]
    public void TwoRanksEqualOneProcessAccumulatingTwoMicroBatches()
    {
        var data = new SyntheticData(11, 4, 8);
        var reference = NewModel();
        TrainingResult expected;
        using (var t = new Trainer(new CausalLmObjective(reference, Tokenizer, data), Config(3) with { GradientAccumulationSteps = 2 }))
            expected = t.Run();

        var models = new[] { NewModel(), NewModel() };
        using (no_grad()) models[1].parameters().First().add_(1.0);
        var groups = ThreadProcessGroup.Create(2);
        var results = OnRanks(2, r =>
        {
            using var t = new Trainer(new CausalLmObjective(models[r], Tokenizer, data), Config(3), null, groups[r]);
            return t.Run();
        });

        foreach (var result in results)
        {
            Assert.Equal(expected.Losses, result.Losses);
            Assert.Equal(3, result.Step);
        }
        var want = reference.state_dict();
        foreach (var model in models)
            foreach (var (name, tensor) in model.state_dict())
                Assert.True(tensor.eq(want[name]).all().item<bool>(), $"{name} differs from the single-process run");
        Assert.NotNull(results[0].LastEval);
        Assert.Null(results[1].LastEval); // only rank 0 evaluates
    }

    /// <summary>Gradients are summed bucket by bucket (here buckets of 64 bytes, so several per dtype), float32 and
    /// float64 apart; a parameter with a gradient on one rank only gets that rank's gradient on both.</summary>
    [Fact]
    public void GradientsAreSummedAcrossBucketsAndMissingOnesCountAsZero()
    {
        var groups = ThreadProcessGroup.Create(2);
        var shapes = new long[][] { [5], [7, 3], [40], [2, 2] };
        var reducers = OnRanks(2, r =>
        {
            var parameters = shapes.Select((s, i) => zeros(s, i == 3 ? ScalarType.Float64 : ScalarType.Float32).requires_grad_()).ToList();
            for (int i = 0; i < parameters.Count; i++)
            {
                if (r == 1 && i == 2) continue; // no gradient for parameter 2 on rank 1
                using (no_grad()) parameters[i].grad = full(shapes[i], (i + 1) * 10.0 + r, parameters[i].dtype);
            }
            var reduce = new GradientAllReduce(groups[r], parameters, bucketBytes: 64);
            reduce.Run();
            return (parameters, reduce);
        });
        foreach (var (parameters, reduce) in reducers)
        {
            for (int i = 0; i < shapes.Length; i++)
            {
                double expected = i == 2 ? 30.0 : (i + 1) * 10.0 * 2 + 1;
                Assert.True(parameters[i].grad!.eq(expected).all().item<bool>(), $"parameter {i}: {parameters[i].grad!.mean().ToDouble()} != {expected}");
            }
            Assert.True(reduce.LastCollectives > 3, $"expected several buckets, got {reduce.LastCollectives - 1}");
            Assert.Equal((5 + 21 + 40) * 4 + 4 * 8, reduce.LastBytes);
        }
    }

    /// <summary>Ctrl-C on one rank stops every rank after the same step (none waits in a collective for one that left).</summary>
    [Fact]
    public void CancellationOnOneRankStopsAllAfterTheSameStep()
    {
        var data = new SyntheticData(11, 4, 8);
        var models = new[] { NewModel(), NewModel() };
        var groups = ThreadProcessGroup.Create(2);
        var results = OnRanks(2, r =>
        {
            using var cancel = new CancellationTokenSource();
            using var t = new Trainer(new CausalLmObjective(models[r], Tokenizer, data), Config(50), null, groups[r]);
            if (r == 1) t.StepCompleted += s => { if (s.Step == 2) cancel.Cancel(); };
            return t.Run(cancel.Token);
        });
        Assert.All(results, r => Assert.Equal(TrainingOutcome.Interrupted, r.Outcome));
        Assert.All(results, r => Assert.Equal(2, r.Step));
    }

    sealed class SingleProcessOnly(nn.Module model) : ITrainingObjective
    {
        public nn.Module Model => model;
        public StepOutcome ForwardBackward(long firstIndex, int count) => throw new NotImplementedException();
        public IReadOnlyDictionary<string, double> Evaluate(int maxBatches) => throw new NotImplementedException();
        public void SaveModel(string directory) => throw new NotImplementedException();
    }

    [Fact]
    public void AnObjectiveWithoutDataParallelSupportIsRefusedWithAClearMessage()
    {
        var groups = ThreadProcessGroup.Create(1);
        var e = Assert.Throws<InvalidInputException>(() => new Trainer(new SingleProcessOnly(NewModel()), Config(1), null, groups[0]));
        Assert.Contains(nameof(SingleProcessOnly), e.Message);
        Assert.Contains(nameof(IDataParallelObjective), e.Message);
    }

    /// <summary>Dropout seeds are a pure function of (seed, step, rank) and differ between any two of them.</summary>
    [Fact]
    public void StepSeedsArePureAndDistinct()
    {
        var seen = new HashSet<long>();
        for (int step = 0; step < 200; step++)
            for (int rank = 0; rank < 8; rank++)
            {
                long s = Trainer.StepSeed(7, step, rank);
                Assert.Equal(s, Trainer.StepSeed(7, step, rank));
                Assert.True(s >= 0);
                Assert.True(seen.Add(s), $"seed repeated at step {step}, rank {rank}");
            }
        Assert.NotEqual(Trainer.StepSeed(7, 0, 0), Trainer.StepSeed(8, 0, 0));
    }
}
