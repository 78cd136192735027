using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.FineTuning;

/// <summary>Every head on both families: shapes, learning, save → load, and GPT-1's λ·LM term.</summary>
public class TaskHeadTests(FineTuningTestModels models) : IClassFixture<FineTuningTestModels>
{
    static TaskData DataFor(FineTuneTask task) => task switch
    {
        FineTuneTask.Choice => FineTuningTestModels.Choices(),
        FineTuneTask.Similarity => FineTuningTestModels.Scores(),
        FineTuneTask.Tag => FineTuningTestModels.Tags(),
        FineTuneTask.Span => FineTuningTestModels.Questions(),
        _ => FineTuningTestModels.Sentiment(),
    };

    FineTuneModel Head(string family, FineTuneTask task, double lmCoef = 0.5, long seed = 1)
    {
        var data = DataFor(task);
        var labels = FineTuneTasks.HasLabelMap(task) ? LabelMap.FromTraining(data) : null;
        return FineTuneModel.FromPretrained(models.Dir(family), task, labels, new HeadOptions(24, lmCoef, seed));
    }

    public static TheoryData<string, FineTuneTask> All => new()
    {
        { "bert", FineTuneTask.Classify }, { "bert", FineTuneTask.Pair }, { "bert", FineTuneTask.Similarity }, { "bert", FineTuneTask.Choice },
        { "gpt", FineTuneTask.Classify }, { "gpt", FineTuneTask.Pair }, { "gpt", FineTuneTask.Similarity }, { "gpt", FineTuneTask.Choice },
    };

    [Theory]
    [MemberData(nameof(All))]
    public void ScoresHaveTheTaskShapeAndTheHeadUsesHuggingFaceNames(string family, FineTuneTask task)
    {
        var ft = Head(family, task);
        using var batch = TaskBatch.From(ft.Encode(DataFor(task), true).Examples.Take(3).ToList(), ft.Encoder.PadId);
        var (scores, lm) = ft.Forward(batch, withLm: true);
        long[] expected = task switch { FineTuneTask.Similarity => [3], FineTuneTask.Choice => [3, 2], _ => [3, 2] };
        Assert.Equal(expected, scores.shape);
        Assert.Equal(family == "gpt", lm is not null);
        var names = ft.Module.state_dict().Keys.ToList();
        string body = family == "gpt" ? "transformer." : "bert.";
        string head = family == "gpt" ? "score.weight" : "classifier.weight";
        Assert.Contains(head, names);
        Assert.All(names, n => Assert.True(n.StartsWith(body) || FineTuneModel.IsHeadParameter(n), n));
        Assert.DoesNotContain(names, n => n.StartsWith("cls."));
        if (family == "gpt") Assert.DoesNotContain("score.bias", names);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void OverfitsOneBatch(string family, FineTuneTask task)
    {
        var ft = Head(family, task, lmCoef: 0);
        TrainOnOneBatch(ft, ft.Encode(DataFor(task), true), steps: 60);
        var predictions = ft.Predict(ft.Encode(DataFor(task), true));
        if (task == FineTuneTask.Similarity)
            Assert.All(predictions.Zip(DataFor(task).Examples), p => Assert.InRange(p.First.Score, float.Parse(p.Second.Label!) - 0.5, float.Parse(p.Second.Label!) + 0.5));
        else
            Assert.Equal(ft.Encode(DataFor(task), true).Examples.Select(e => e.Class), predictions.Select(p => p.Class));
    }

    [Theory]
    [MemberData(nameof(All))]
    public void SaveThenLoadGivesIdenticalPredictions(string family, FineTuneTask task)
    {
        var (ft, loaded) = SavedAndReloaded(family, task, noise: 0.01);
        var data = DataFor(task);
        var before = ft.Predict(ft.Encode(data, true));
        var after = loaded.Predict(loaded.Encode(data, true));
        Assert.Equal(before.Select(p => p.Class), after.Select(p => p.Class));
        Assert.Equal(before.SelectMany(p => p.Probabilities), after.SelectMany(p => p.Probabilities));
        Assert.Equal(before.Select(p => p.Score), after.Select(p => p.Score));
        Assert.Equal(ft.Info, loaded.Info);
        Assert.Equal(ft.Labels?.Labels, loaded.Labels?.Labels);
    }

    public static TheoryData<string, FineTuneTask> TokenLevel => new()
    {
        { "bert", FineTuneTask.Tag }, { "bert", FineTuneTask.Span }, { "gpt", FineTuneTask.Tag }, { "gpt", FineTuneTask.Span },
    };

    [Theory]
    [MemberData(nameof(TokenLevel))]
    public void TokenHeadsScoreEveryTokenUnderHuggingFaceNames(string family, FineTuneTask task)
    {
        var ft = Head(family, task);
        var examples = ft.Encode(DataFor(task), true).Examples.Take(3).ToList();
        using var batch = TaskBatch.From(examples, ft.Encoder.PadId);
        var (scores, lm) = ft.Forward(batch, withLm: true);
        long T = examples.Max(e => e.Sequences[0].Length), L = task == FineTuneTask.Tag ? ft.Labels!.Count : 2;
        Assert.Equal([3L, T, L], scores.shape);
        Assert.Equal(family == "gpt", lm is not null);
        var weights = ft.Module.state_dict();
        string head = task == FineTuneTask.Tag ? "classifier" : "qa_outputs";
        string body = family == "gpt" ? "transformer." : "bert.";
        Assert.Equal([head + ".bias", head + ".weight"], weights.Keys.Where(k => !k.StartsWith(body)).Order());
        long width = weights[body + (family == "gpt" ? "wte.weight" : "embeddings.word_embeddings.weight")].shape[1];
        Assert.Equal([L, width], weights[head + ".weight"].shape);
        Assert.Equal([L], weights[head + ".bias"].shape);
        Assert.Equal(0, weights[head + ".bias"].abs().sum().item<float>());
        Assert.Equal((family == "gpt" ? "GPT2For" : "BertFor") + (task == FineTuneTask.Tag ? "TokenClassification" : "QuestionAnswering"), ft.Info.Head);
    }

    [Theory]
    [InlineData(FineTuneTask.Tag)]
    [InlineData(FineTuneTask.Span)]
    public void GptTokenHeadsOverfitOneBatch(FineTuneTask task)
    {
        var ft = Head("gpt", task, lmCoef: 0);
        var set = ft.Encode(DataFor(task), true);
        TrainOnOneBatch(ft, set, steps: 50);
        if (task == FineTuneTask.Tag)
            Assert.Equal(DataFor(task).Examples.Select(e => e.Tags!), ft.PredictTags(set).Select(p => p.Select(id => ft.Labels!.Labels[id]).ToList()));
        else
            Assert.Equal(DataFor(task).Examples.Select(e => (e.Label, e.AnswerStart)), ft.PredictSpans(set).Select(a => ((string?)a[0].Text, a[0].Start)));
    }

    [Theory]
    [MemberData(nameof(TokenLevel))]
    public void TokenHeadsSaveThenLoadGiveIdenticalPredictions(string family, FineTuneTask task)
    {
        var (ft, loaded) = SavedAndReloaded(family, task, noise: 0.05);
        Assert.Equal(ft.Info, loaded.Info);
        var data = DataFor(task);
        if (task == FineTuneTask.Tag)
            Assert.Equal(ft.PredictTags(ft.Encode(data, true)), loaded.PredictTags(loaded.Encode(data, false)));
        else
        {
            var before = ft.PredictSpans(ft.Encode(data, true));
            var after = loaded.PredictSpans(loaded.Encode(data, false));
            Assert.NotEmpty(before[0]);
            Assert.Equal(before, after);   // text, offsets, scores and probabilities, bit for bit
        }
    }

    [Theory]
    [InlineData(FineTuneTask.Classify)]
    [InlineData(FineTuneTask.Choice)]
    [InlineData(FineTuneTask.Tag)]
    [InlineData(FineTuneTask.Span)]
    public void LmCoefficientAddsExactlyLambdaTimesTheLmLoss(FineTuneTask task)
    {
        var with = Head("gpt", task, lmCoef: 0.5, seed: 3);
        var without = Head("gpt", task, lmCoef: 0, seed: 3);
        using var batch = TaskBatch.From(with.Encode(DataFor(task), true).Examples, with.Encoder.PadId);
        with.Module.eval();
        without.Module.eval();
        var (total, taskLoss, lm) = with.Loss(batch);
        var (plain, plainTask, noLm) = without.Loss(batch);
        Assert.Null(noLm);
        Assert.NotNull(lm);
        Assert.True(lm!.item<float>() > 0);
        Assert.Equal(plainTask.item<float>(), taskLoss.item<float>());
        Assert.Equal(plain.item<float>() + 0.5f * lm.item<float>(), total.item<float>(), 5);
    }

    [Theory]
    [InlineData(FineTuneTask.Classify)]
    [InlineData(FineTuneTask.Tag)]
    [InlineData(FineTuneTask.Span)]
    public void LmLossIgnoresPaddingAndMatchesTheCausalLmLossOfEachSequence(FineTuneTask task)
    {
        var ft = Head("gpt", task);
        ft.Module.eval();
        var set = ft.Encode(DataFor(task), true);
        var shorter = set.Examples[1];
        var examples = new[] { set.Examples[0], shorter with { Sequences = [shorter.Sequences[0][..5]], TypeIds = [new int[5]], TokenLabels = shorter.TokenLabels?[..5] } };
        using var batch = TaskBatch.From(examples, ft.Encoder.PadId);
        var (_, lm) = ft.Forward(batch, true);
        // The same loss computed sequence by sequence with the plain GPT loss, without any padding.
        var transformer = ((IGptTaskHead)ft.Module).Transformer;
        double sum = 0;
        long count = 0;
        foreach (var e in examples)
        {
            var ids = tensor(e.Sequences[0].Select(x => (long)x).ToArray()).unsqueeze(0);
            var logits = transformer.LmLogits(transformer.forward(ids[.., ..^1]));
            sum += Gpt.Loss(logits, ids[.., 1..]).item<float>() * (e.Sequences[0].Length - 1);
            count += e.Sequences[0].Length - 1;
        }
        Assert.Equal(sum / count, lm!.item<float>(), 4);
    }

    [Fact]
    public void FreezeEncoderTrainsOnlyTheHead()
    {
        var ft = Head("bert", FineTuneTask.Classify);
        ft.FreezeEncoder();
        var trainable = ft.Module.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.Equal(["classifier.weight", "classifier.bias"], trainable);
    }

    /// <summary>AdamW at lr 1e-2 on one batch of the whole set; the loss must fall below a fifth of its start.</summary>
    static void TrainOnOneBatch(FineTuneModel ft, EncodedTaskSet set, int steps)
    {
        using var batch = TaskBatch.From(set.Examples, ft.Encoder.PadId);
        ft.Module.train();
        var optimizer = OptimizerFactory.AdamW(ft.Module, 1e-2, 0, 0.9, 0.999);
        double first = 0, last = 0;
        for (int step = 0; step < steps; step++)
        {
            optimizer.zero_grad();
            using var scope = NewDisposeScope();
            var (loss, _, _) = ft.Loss(batch);
            loss.backward();
            optimizer.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.2, $"loss {first} -> {last}");
    }

    /// <summary>A fresh head moved off its initial state by N(0, noise²) on every weight, saved and loaded back.</summary>
    (FineTuneModel Saved, FineTuneModel Loaded) SavedAndReloaded(string family, FineTuneTask task, double noise)
    {
        var ft = Head(family, task);
        using (no_grad())
            foreach (var p in ft.Module.parameters()) p.add_(randn_like(p) * noise);
        string dir = Path.Combine(models.Root, $"saved-{family}-{task}-{Guid.NewGuid():N}");
        ft.Save(dir);
        return (ft, FineTuneModel.Load(dir));
    }
}
