using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tests.HuggingFace;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.FineTuning;

public class Seq2SeqFineTuningTests
{
    static ByteLevelBpeTokenizer Tokenizer() => ByteLevelBpeTokenizer.Load(Path.Combine(HfFixtures.Root, "bart"));

    /// <summary>Every string of three letters over "abcd", with its reversal as the target.</summary>
    static List<Seq2SeqExample> ReverseTask()
    {
        const string letters = "abcd";
        var examples = new List<Seq2SeqExample>();
        foreach (char a in letters) foreach (char b in letters) foreach (char c in letters)
            examples.Add(new Seq2SeqExample(examples.Count + 1, $"{a}{b}{c}", $"{c}{b}{a}"));
        return examples;
    }

    /// <summary>From scratch on a fixed seed, a tiny encoder–decoder learns to reverse: the loss falls and greedy
    /// decoding writes every reversal exactly. Before training it writes none of them (the test can fail).</summary>
    [Fact]
    public void FineTuningLearnsToReverseStrings()
    {
        var tokenizer = Tokenizer();
        var examples = ReverseTask();
        manual_seed(11);
        using var model = new BartForConditionalGeneration(new BartConfig
        {
            VocabSize = tokenizer.VocabSize, DModel = 32, EncoderLayers = 1, DecoderLayers = 1, EncoderAttentionHeads = 4,
            DecoderAttentionHeads = 4, EncoderFfnDim = 64, DecoderFfnDim = 64, MaxPositionEmbeddings = 12, Dropout = 0,
            // BART's init_std of 0.02 suits d_model = 1024; at d_model = 32 attention scores start so flat that the
            // decoder first learns to ignore the source, which takes far more steps than a unit test can afford.
            InitStd = 0.2,
        });
        var sources = examples.Select(e => e.Source).ToList();
        var before = Seq2SeqFineTuning.Predict(model, tokenizer, sources, maxNewTokens: 5);
        Assert.DoesNotContain(examples, e => before[e.Line - 1] == e.Target);

        var losses = Seq2SeqFineTuning.Train(model, tokenizer, examples, new Seq2SeqTrainingOptions
        {
            Epochs = 15, BatchSize = 8, LearningRate = 3e-3, WeightDecay = 0, Seed = 3,
        });
        Assert.True(losses[^1] < losses[0] / 20, string.Join(", ", losses));
        var after = Seq2SeqFineTuning.Predict(model, tokenizer, sources, maxNewTokens: 5, batchSize: 7);
        var wrong = examples.Where(e => after[e.Line - 1] != e.Target).Select(e => $"{e.Source}→{after[e.Line - 1]}").ToList();
        Assert.True(wrong.Count == 0, $"{wrong.Count} wrong: {string.Join(" ", wrong)}; losses {string.Join(", ", losses.Select(l => l.ToString("F3")))}");
    }

    [Fact]
    public void LearningRateWarmsUpOverItsShareOfAllStepsThenFallsToZero()
    {
        // 100 examples in batches of 10 for 2 epochs: 20 steps, WarmupRatio 0.25 -> 5 warm-up steps.
        var schedule = Seq2SeqFineTuning.Schedule(new Seq2SeqTrainingOptions { LearningRate = 1e-3, BatchSize = 10, Epochs = 2, WarmupRatio = 0.25 }, 100);
        Assert.Equal(2e-4, schedule.At(0), 12);
        Assert.Equal(1e-3, schedule.At(4), 12);
        Assert.Equal(1e-3, schedule.At(5), 12);                                  // the cosine starts at the peak
        Assert.Equal(0.5e-3 * (1 + Math.Cos(Math.PI * 14 / 15)), schedule.At(19), 12); // the last update: near 0
        Assert.Equal(0, schedule.At(20), 12);
        // A partial last batch is a step of its own: 101 examples -> 11 steps per epoch, 22 in all, 6 warm-up (5.5 rounds to even).
        var partial = Seq2SeqFineTuning.Schedule(new Seq2SeqTrainingOptions { LearningRate = 1e-3, BatchSize = 10, Epochs = 2, WarmupRatio = 0.25 }, 101);
        Assert.Equal(1e-3 / 6, partial.At(0), 12);
        Assert.Equal(0, partial.At(22), 12);
        Assert.True(partial.At(21) > 0);
        // No warm-up: the first update is at the peak.
        Assert.Equal(1e-3, Seq2SeqFineTuning.Schedule(new Seq2SeqTrainingOptions { LearningRate = 1e-3, WarmupRatio = 0 }, 50).At(0), 12);
    }

    [Fact]
    public void EncodingWrapsSourcesAndEndsTargets()
    {
        var tokenizer = Tokenizer();
        var config = Ptm.Tests.Modeling.BartModelTests.Tiny(vocab: tokenizer.VocabSize);
        long[] body = tokenizer.Encode("abcdef").Select(i => (long)i).ToArray();
        Assert.Equal([0, .. body, 2], Seq2SeqFineTuning.EncodeSource(tokenizer, config, "abcdef", 64));
        Assert.Equal([0, body[0], body[1], 2], Seq2SeqFineTuning.EncodeSource(tokenizer, config, "abcdef", 4));
        Assert.Equal([.. body[..2], 2], Seq2SeqFineTuning.EncodeTarget(tokenizer, config, "abcdef", 3));
    }

    [Theory]
    [InlineData(".csv", "source,target,id\n\"a, b\",x y,1\nc,z,2\n")]
    [InlineData(".tsv", "id\tsource\ttarget\n1\ta, b\tx y\n2\tc\tz\n")]
    [InlineData(".jsonl", "{\"source\": \"a, b\", \"target\": \"x y\"}\n\n{\"source\": \"c\", \"target\": \"z\"}\n")]
    public void TaskFilesReadSourceAndTargetColumns(string ext, string content)
    {
        string path = Path.Combine(Path.GetTempPath(), "ptm-s2s-" + Guid.NewGuid().ToString("N") + ext);
        File.WriteAllText(path, content);
        try
        {
            var examples = TaskFile.ReadSeq2Seq(path);
            Assert.Equal([("a, b", "x y"), ("c", "z")], examples.Select(e => (e.Source, e.Target!)).ToArray());
            var e = Assert.Throws<InvalidInputException>(() => TaskFile.ReadSeq2Seq(path, targetColumn: "english"));
            Assert.Contains("unknown column 'english'", e.Message);
            Assert.All(TaskFile.ReadSeq2Seq(path, targetColumn: "english", requireTarget: false), x => Assert.Null(x.Target));
        }
        finally { File.Delete(path); }
    }
}
