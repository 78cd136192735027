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
        manual_seed(11);
        using var model = new BartForConditionalGeneration(new BartConfig
        {
            VocabSize = tokenizer.VocabSize, DModel = 32, EncoderLayers = 1, DecoderLayers = 1, EncoderAttentionHeads = 4,
            DecoderAttentionHeads = 4, EncoderFfnDim = 64, DecoderFfnDim = 64, MaxPositionEmbeddings = 12, Dropout = 0, InitStd = 0.2,
        });
        var options = new Seq2SeqTrainingOptions { Epochs = 8, BatchSize = 8, LearningRate = 3e-3, WeightDecay = 0, Seed = 3, LabelSmoothing = 0.1 };
        var result = Seq2SeqFineTuning.Train(model, tokenizer, train, copy, options);
        var losses = result.Epochs.Select(e => e.ValidationLoss!.Value).ToList();
        Assert.Equal(losses.IndexOf(losses.Min()) + 1, result.BestEpoch);
        Assert.True(result.BestEpoch < options.Epochs, string.Join(", ", losses));
        Assert.Equal(losses[result.BestEpoch - 1], Seq2SeqFineTuning.ValidationLoss(model, tokenizer, copy, options), 5);
        Assert.NotEqual(losses[^1], Seq2SeqFineTuning.ValidationLoss(model, tokenizer, copy, options), 3);
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
