using Ptm.Evaluation;
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tests.HuggingFace;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.FineTuning;

public class Seq2SeqRunTests
{
    /// <summary>From scratch keeps the folder's config but draws new weights: every initialised matrix differs from the
    /// folder's, the same seed gives the same weights and another seed other weights.</summary>
    [Fact]
    public void FromScratchReinitialisesTheFoldersArchitecture()
    {
        var (pretrained, _) = ModelFolder.LoadBart(Path.Combine(HfFixtures.Root, "bart"));
        using (pretrained)
        {
            using var a = Seq2SeqFineTuning.FromScratch(pretrained.Config, 5);
            using var b = Seq2SeqFineTuning.FromScratch(pretrained.Config, 5);
            using var c = Seq2SeqFineTuning.FromScratch(pretrained.Config, 6);
            Assert.Equal(pretrained.Config, a.Config);
            var loaded = pretrained.state_dict();
            var (sa, sb, sc) = (a.state_dict(), b.state_dict(), c.state_dict());
            Assert.Equal(loaded.Keys.Order(), sa.Keys.Order());
            foreach (var (name, t) in sa)
            {
                Assert.True(t.equal(sb[name]).all().item<bool>(), $"{name} differs for the same seed");
                if (name.EndsWith(".weight") && !name.Contains("layer_norm") && !name.Contains("layernorm"))
                {
                    Assert.False(t.equal(loaded[name]).all().item<bool>(), $"{name} kept the folder's weights");
                    Assert.False(t.equal(sc[name]).all().item<bool>(), $"{name} is the same for another seed");
                }
            }
        }
    }

    /// <summary>Another dropout keeps every weight and the eval-mode outputs, changes the config, and a run with it saves
    /// that config; training a model whose dropout differs from the options' is refused.</summary>
    [Fact]
    public void DropoutOverrideKeepsTheWeightsAndIsSavedWithTheRun()
    {
        string fixture = Path.Combine(HfFixtures.Root, "bart");
        var (pretrained, tokenizer) = ModelFolder.LoadBart(fixture);
        using (pretrained)
        {
            using var changed = Seq2SeqFineTuning.WithDropout(pretrained, 0.3);
            Assert.Equal(pretrained.Config with { Dropout = 0.3 }, changed.Config);
            var before = pretrained.state_dict();
            foreach (var (name, t) in changed.state_dict()) Assert.True(t.equal(before[name]).all().item<bool>(), name);
            using var src = tensor(new long[] { 0, 31, 42, 2 }).unsqueeze(0);
            using var tgt = tensor(new long[] { 2, 0, 50 }).unsqueeze(0);
            using var mask = ones_like(src);
            pretrained.eval();
            using var a = pretrained.forward(src, mask, tgt);
            using var b = changed.forward(src, mask, tgt);
            Assert.True(a.allclose(b, 0, 0));

            var examples = new List<Seq2SeqExample> { new(1, "ab", "ba"), new(2, "cd", "dc") };
            var options = new Seq2SeqTrainingOptions { Epochs = 1, BatchSize = 2, Dropout = 0.3 };
            var error = Assert.Throws<InvalidOptionException>(() => Seq2SeqFineTuning.Train(pretrained, tokenizer, examples, null, options));
            Assert.Contains("Dropout", error.Message);
            Assert.Contains("WithDropout", error.Message);

            string run = Path.Combine(Path.GetTempPath(), "ptm-s2s-dropout-" + Guid.NewGuid().ToString("N"));
            try
            {
                Seq2SeqRun.Run(fixture, examples, null, options, run);
                var (saved, _) = ModelFolder.LoadBart(Path.Combine(run, "best"));
                using (saved) Assert.Equal(0.3, saved.Config.Dropout);
            }
            finally { if (Directory.Exists(run)) Directory.Delete(run, recursive: true); }
        }
    }

    /// <summary>Training on reversal while validating on copying: the validation loss is lowest early, so the kept
    /// weights are an earlier epoch's and their validation loss is the one logged for it (not the last epoch's).</summary>
    [Fact]
    public void TrainingKeepsTheEpochWithTheLowestValidationLoss()
    {
        var (tokenizer, train, copy, model) = ReversalTask(seed: 11);
        using var _ = model;
        var options = new Seq2SeqTrainingOptions { Epochs = 8, BatchSize = 8, LearningRate = 3e-3, WeightDecay = 0, Seed = 3, LabelSmoothing = 0.1 };
        var result = Seq2SeqFineTuning.Train(model, tokenizer, train, copy, options);
        var losses = result.Epochs.Select(e => e.ValidationLoss!.Value).ToList();
        Assert.Equal(losses.IndexOf(losses.Min()) + 1, result.BestEpoch);
        Assert.True(result.BestEpoch < options.Epochs, string.Join(", ", losses));
        Assert.Equal(losses[result.BestEpoch - 1], Seq2SeqFineTuning.ValidationLoss(model, tokenizer, copy, options), 5);
        Assert.NotEqual(losses[^1], Seq2SeqFineTuning.ValidationLoss(model, tokenizer, copy, options), 3);
    }

    /// <summary>With BLEU picking the epoch, each epoch's logged BLEU is the corpus BLEU of the greedy translations of
    /// the validation sources by that epoch's weights, and the kept weights are the epoch with the highest.</summary>
    [Fact]
    public void BleuAsTheMetricKeepsTheEpochWithTheHighestGreedyBleu()
    {
        // Five-word sentences (so BLEU has 4-grams to count), reversed; validation on unseen sentences.
        var tokenizer = ByteLevelBpeTokenizer.Load(Path.Combine(HfFixtures.Root, "bart"));
        var rng = new Random(4);
        var pairs = new List<Seq2SeqExample>();
        while (pairs.Count < 80)
        {
            var words = Enumerable.Range(0, 5).Select(_ => "abcd"[rng.Next(4)].ToString()).ToArray();
            pairs.Add(new Seq2SeqExample(pairs.Count + 1, string.Join(' ', words), string.Join(' ', words.Reverse())));
        }
        var (train, copy) = (pairs[..64], pairs[64..]);
        manual_seed(2);
        var model = new BartForConditionalGeneration(new BartConfig
        {
            VocabSize = tokenizer.VocabSize, DModel = 32, EncoderLayers = 1, DecoderLayers = 1, EncoderAttentionHeads = 4,
            DecoderAttentionHeads = 4, EncoderFfnDim = 64, DecoderFfnDim = 64, MaxPositionEmbeddings = 16, Dropout = 0, InitStd = 0.2,
        });
        using (model)
        {
            var options = new Seq2SeqTrainingOptions
            {
                Epochs = 8, BatchSize = 8, LearningRate = 3e-3, WeightDecay = 0, Seed = 3, BestModelMetric = Seq2SeqBestModelMetric.Bleu,
            };
            var logged = new List<double>();
            var result = Seq2SeqFineTuning.Train(model, tokenizer, train, copy, options, e =>
            {
                // The callback runs with the epoch's own weights: score them independently of the trainer.
                var hypotheses = Seq2SeqFineTuning.Predict(model, tokenizer, copy.Select(c => c.Source).ToList(), maxNewTokens: 16, maxSourceLength: 16, batchSize: 8);
                logged.Add(Seq2SeqScore.Of(hypotheses, copy).Bleu.Score);
            });
            var bleus = result.Epochs.Select(e => e.ValidationBleu!.Value).ToList();
            Assert.Equal(logged, bleus);
            Assert.Equal(bleus.IndexOf(bleus.Max()) + 1, result.BestEpoch);
            Assert.True(bleus.Distinct().Count() > 1, string.Join(", ", bleus));
            var kept = Seq2SeqFineTuning.Predict(model, tokenizer, copy.Select(c => c.Source).ToList(), maxNewTokens: 16, maxSourceLength: 16, batchSize: 8);
            Assert.Equal(bleus.Max(), Seq2SeqScore.Of(kept, copy).Bleu.Score, 9);
            Assert.Null(result.Average);

            var error = Assert.Throws<InvalidOptionException>(() => Seq2SeqFineTuning.Train(model, tokenizer, train, null, options));
            Assert.Contains("BestModelMetric", error.Message);
        }
    }

    /// <summary>Averaging the last epochs leaves the element-wise mean of the weights each of those epochs ended with
    /// (without validation it is always kept); with validation it is scored and kept only if no worse than the best epoch.</summary>
    [Fact]
    public void AveragingTheLastEpochsKeepsTheMeanOfTheirWeights()
    {
        var (tokenizer, train, copy, model) = ReversalTask(seed: 5);
        using (model)
        {
            var options = new Seq2SeqTrainingOptions { Epochs = 4, BatchSize = 8, LearningRate = 3e-3, WeightDecay = 0, Seed = 3, AverageLastEpochs = 3 };
            var snapshots = new List<Dictionary<string, Tensor>>();
            var result = Seq2SeqFineTuning.Train(model, tokenizer, train, null, options,
                _ => snapshots.Add(model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone())));
            Assert.Equal(new Seq2SeqAverage(2, 4, null, null, Kept: true), result.Average);
            int compared = 0;
            foreach (var (name, t) in model.state_dict())
            {
                if (!t.is_floating_point()) continue;
                using var mean = (snapshots[1][name] + snapshots[2][name] + snapshots[3][name]) / 3;
                Assert.True(t.allclose(mean, 1e-6, 1e-6), name);
                if (!snapshots[3][name].allclose(mean, 1e-6, 1e-6)) compared++;
            }
            Assert.True(compared > 10, $"only {compared} tensors changed over the last epochs");

            var invalid = options with { AverageLastEpochs = 5 };
            var error = Assert.Throws<InvalidOptionException>(() => Seq2SeqFineTuning.Train(model, tokenizer, train, null, invalid));
            Assert.Contains("AverageLastEpochs", error.Message);
            foreach (var s in snapshots) foreach (var t in s.Values) t.Dispose();
        }

        var (tokenizer2, train2, copy2, model2) = ReversalTask(seed: 11);
        using (model2)
        {
            // Reversal training scored on copying: the loss is lowest early, so the late average loses to the best epoch.
            var options = new Seq2SeqTrainingOptions { Epochs = 8, BatchSize = 8, LearningRate = 3e-3, WeightDecay = 0, Seed = 3, AverageLastEpochs = 2 };
            var result = Seq2SeqFineTuning.Train(model2, tokenizer2, train2, copy2, options);
            var average = Assert.IsType<Seq2SeqAverage>(result.Average);
            var losses = result.Epochs.Select(e => e.ValidationLoss!.Value).ToList();
            Assert.Equal(average.ValidationLoss <= losses.Min(), average.Kept);
            Assert.False(average.Kept, $"average {average.ValidationLoss} against {string.Join(", ", losses)}");
            Assert.Equal(losses.Min(), Seq2SeqFineTuning.ValidationLoss(model2, tokenizer2, copy2, options), 5);
        }
    }

    /// <summary>Token dropout replaces about p of the eligible tokens by the mask id and never touches the others.</summary>
    [Fact]
    public void TokenDropoutMasksTheShareAskedForOfEligibleTokensOnly()
    {
        manual_seed(7);
        using var ids = randint(4, 100, [64, 50]);
        using var eligible = arange(50).ge(5).unsqueeze(0).expand(64, 50); // the first five positions are never dropped
        using var dropped = Seq2SeqFineTuning.DropTokens(ids, eligible, 0.25, 3);
        using var changed = dropped.ne(ids);
        Assert.True(dropped.where(changed, 3).eq(3).all().item<bool>(), "a changed token is not the mask id");
        Assert.False(changed.logical_and(eligible.logical_not()).any().item<bool>(), "an ineligible token was dropped");
        double share = changed.sum().item<long>() / (64.0 * 45);
        Assert.InRange(share, 0.22, 0.28); // 2,880 draws: the standard deviation of the share is 0.008
        using var none = Seq2SeqFineTuning.DropTokens(ids, eligible, 0, 3);
        Assert.True(none.equal(ids).all().item<bool>());
    }

    /// <summary>With nearly every source token dropped the model cannot see what to reverse: its validation loss
    /// stays far above the run that sees the source, so the option reaches the training batches.</summary>
    [Fact]
    public void SourceTokenDropoutReachesTheTrainingBatches()
    {
        double Loss(double sourceDropout)
        {
            var (tokenizer, train, _, model) = ReversalTask(seed: 5);
            using (model)
            {
                var options = new Seq2SeqTrainingOptions { Epochs = 6, BatchSize = 8, LearningRate = 3e-3, WeightDecay = 0, Seed = 3, SourceTokenDropout = sourceDropout };
                Seq2SeqFineTuning.Train(model, tokenizer, train, options);
                return Seq2SeqFineTuning.ValidationLoss(model, tokenizer, train, options);
            }
        }
        double seeing = Loss(0), blind = Loss(0.99);
        Assert.True(blind > seeing + 0.5, $"validation loss {blind} with the source dropped, {seeing} without");
        var error = Assert.Throws<InvalidOptionException>(() => new Seq2SeqTrainingOptions { TargetTokenDropout = 1 }.Validate(new BartConfig()));
        Assert.Contains("TargetTokenDropout", error.Message);
    }

    /// <summary>BPE-dropout re-tokenises the training pairs every epoch: on words the fixture's merges apply to
    /// (" the", "in"), rate 0.5 trains on other token sequences than plain BPE (the epochs' losses differ), and the
    /// same seed draws the same segmentations (the losses repeat exactly).</summary>
    [Fact]
    public void BpeDropoutReachesTheTrainingBatchesAndRepeatsWithTheSeed()
    {
        IReadOnlyList<double> Losses(double rate)
        {
            var (tokenizer, _, _, model) = ReversalTask(seed: 5);
            string[] words = ["the", "in", "then", "thin", "hein"];
            var pairs = (from a in words from b in words where a != b select new Seq2SeqExample(0, $"{a} {b}", $"{b} {a}")).ToList();
            using (model)
                return Seq2SeqFineTuning.Train(model, tokenizer, pairs,
                    new Seq2SeqTrainingOptions { Epochs = 3, BatchSize = 8, LearningRate = 3e-3, Seed = 3, BpeDropout = rate });
        }
        var plain = Losses(0);
        var dropped = Losses(0.5);
        Assert.NotEqual(plain, dropped);
        Assert.Equal(dropped, Losses(0.5));
        var error = Assert.Throws<InvalidOptionException>(() => new Seq2SeqTrainingOptions { BpeDropout = 1 }.Validate(new BartConfig()));
        Assert.Contains("BpeDropout", error.Message);
    }

    // Three-letter strings: train to reverse them, validate on copying them; a tiny model that learns in seconds.
    static (ITokenizer Tokenizer, List<Seq2SeqExample> Train, List<Seq2SeqExample> Copy, BartForConditionalGeneration Model) ReversalTask(int seed)
    {
        var tokenizer = ByteLevelBpeTokenizer.Load(Path.Combine(HfFixtures.Root, "bart"));
        const string letters = "abcd";
        var train = new List<Seq2SeqExample>();
        var copy = new List<Seq2SeqExample>();
        foreach (char a in letters) foreach (char b in letters) foreach (char c in letters)
        {
            if (a == c) continue; // palindromes read the same both ways
            train.Add(new Seq2SeqExample(train.Count + 1, $"{a}{b}{c}", $"{c}{b}{a}"));
            copy.Add(new Seq2SeqExample(copy.Count + 1, $"{a}{b}{c}", $"{a}{b}{c}"));
        }
        manual_seed(seed);
        var model = new BartForConditionalGeneration(new BartConfig
        {
            VocabSize = tokenizer.VocabSize, DModel = 32, EncoderLayers = 1, DecoderLayers = 1, EncoderAttentionHeads = 4,
            DecoderAttentionHeads = 4, EncoderFfnDim = 64, DecoderFfnDim = 64, MaxPositionEmbeddings = 12, Dropout = 0, InitStd = 0.2,
        });
        return (tokenizer, train, copy, model);
    }

    [Fact]
    public void SplitHoldsOutASeededFraction()
    {
        var examples = Enumerable.Range(1, 20).Select(i => new Seq2SeqExample(i, $"s{i}", $"t{i}")).ToList();
        var (train, validation) = Seq2SeqRun.Split(examples, 0.25, 7);
        Assert.Equal(15, train.Count);
        Assert.Equal(5, validation.Count);
        Assert.Equal(examples.Select(e => e.Line).Order(), train.Concat(validation).Select(e => e.Line).Order());
        Assert.Equal(validation.Select(e => e.Line), Seq2SeqRun.Split(examples, 0.25, 7).Validation.Select(e => e.Line));
        Assert.NotEqual(validation.Select(e => e.Line), Seq2SeqRun.Split(examples, 0.25, 8).Validation.Select(e => e.Line));
    }
}
