using Ptm.Embeddings;
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tests.Cli;
using Ptm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

/// <summary>ELMo: character ids, causality of both directions, gradients, the scalar mix, save/load, the embedder,
/// and a tiny biLM learning a deterministic corpus.</summary>
public class ElmoTests : IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "ptm-elmo-" + Guid.NewGuid().ToString("N"));

    public ElmoTests() => Directory.CreateDirectory(dir);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, true);
        GC.SuppressFinalize(this);
    }

    static ElmoConfig Tiny(int vocab = 12) => new()
    {
        VocabSize = vocab, MaxCharactersPerToken = 8, CharEmbeddingDim = 4, Filters = [[1, 3], [2, 4]], NHighway = 1,
        ProjectionDim = 6, LstmDim = 5, NLayers = 2, Dropout = 0,
    };

    static ElmoBiLm NewModel(ElmoConfig config, int seed = 7)
    {
        manual_seed(seed);
        var model = new ElmoBiLm(config);
        model.eval();
        return model;
    }

    /// <summary>Character ids (B, T, L) of random words: each position one of 9 words of 1-5 letters.</summary>
    static Tensor RandomChars(int seed, long B, long T, int L)
    {
        var rng = new Random(seed);
        var ids = new long[B * T * L];
        var row = new int[L];
        for (long p = 0; p < B * T; p++)
        {
            string word = new string((char)('a' + rng.Next(9)), 1 + rng.Next(5));
            ElmoVocabulary.CharIds(word, row);
            for (int i = 0; i < L; i++) ids[p * L + i] = row[i];
        }
        return tensor(ids, B, T, L);
    }

    [Fact]
    public void CharIdsMarkWordsAndSentences()
    {
        var row = new int[8];
        ElmoVocabulary.CharIds("ab", row);
        Assert.Equal([257, 98, 99, 258, 0, 0, 0, 0], row);
        ElmoVocabulary.CharIds("é", row); // two UTF-8 bytes, each + 1
        Assert.Equal([257, 0xC3 + 1, 0xA9 + 1, 258, 0, 0, 0, 0], row);
        ElmoVocabulary.CharIds("abcdefghij", row); // cut to fit, the end marker kept
        Assert.Equal([257, 98, 99, 100, 101, 102, 103, 258], row);
        ElmoVocabulary.CharIds(ElmoVocabulary.BeginSentence, row);
        Assert.Equal([257, 259, 258, 0, 0, 0, 0, 0], row);
        ElmoVocabulary.CharIds(ElmoVocabulary.EndSentence, row);
        Assert.Equal([257, 260, 258, 0, 0, 0, 0, 0], row);
    }

    [Fact]
    public void VocabularyKeepsCaseAndPunctuationAndRoundTrips()
    {
        var words = ElmoVocabulary.SplitWords("And God said, Let there be light.").Select(t => t.Text).ToArray();
        Assert.Equal(["And", "God", "said", ",", "Let", "there", "be", "light", "."], words);
        var vocabulary = ElmoVocabulary.Build([["b", "a", "b", ",", "c"], ["b", "a"]], vocabSize: 5);
        Assert.Equal(["<S>", "</S>", "<unk>", "b", "a"], vocabulary.Words);
        Assert.Equal(ElmoVocabulary.UnknownId, vocabulary.Id("c"));
        vocabulary.Save(dir);
        Assert.Equal(vocabulary.Words, ElmoVocabulary.Load(dir).Words);
        File.WriteAllText(Path.Combine(dir, ElmoVocabulary.FileName), "<S>\n</S>\n<unk>\nb\nb\n");
        var e = Assert.Throws<InvalidInputException>(() => ElmoVocabulary.Load(dir));
        Assert.Contains("line 5", e.Message);
    }

    /// <summary>
    /// The forward LM's states at t depend on words 0..t only and the backward LM's on words t..T-1 only, in every layer.
    /// The converse is checked too (each direction does see the side it should), so the test fails if the directions
    /// were swapped or mixed.
    /// </summary>
    [Fact]
    public void EachDirectionSeesOnlyItsOwnSide()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel(Tiny());
        const int T = 7, t = 3;
        var a = RandomChars(1, 2, T, 8);
        var b = a.clone();
        b[.., (t + 1)..] = RandomChars(2, 2, T - t - 1, 8);   // words after t changed
        var c = a.clone();
        c[.., ..t] = RandomChars(3, 2, t, 8);                 // words before t changed
        using var _ = no_grad();
        ElmoStates Run(Tensor chars) => model.Directions(model.TokenRepresentation(chars), null);
        var sa = Run(a);
        var sb = Run(b);
        var sc = Run(c);
        for (int layer = 0; layer < 2; layer++)
        {
            Assert.True(sa.Forward[layer][.., ..(t + 1)].allclose(sb.Forward[layer][.., ..(t + 1)], 0, 0), $"forward layer {layer} saw the future");
            Assert.True(sa.Backward[layer][.., t..].allclose(sc.Backward[layer][.., t..], 0, 0), $"backward layer {layer} saw the past");
            Assert.False(sa.Backward[layer][.., t].allclose(sb.Backward[layer][.., t]), $"backward layer {layer} ignored the words after t");
            Assert.False(sa.Forward[layer][.., t].allclose(sc.Forward[layer][.., t]), $"forward layer {layer} ignored the words before t");
        }
    }

    /// <summary>A padded row's states equal those of the same row alone: the backward LM reads each row reversed within its length.</summary>
    [Fact]
    public void PaddingAfterARowDoesNotReachItsStates()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel(Tiny());
        var full = RandomChars(4, 2, 6, 8);
        using var _ = no_grad();
        var padded = model.Layers(full, tensor(new long[] { 6, 4 }));                   // row 1: 4 real tokens, 2 of padding
        var alone = model.Layers(full[1..2, ..4], null);
        Assert.True(padded[.., 1, ..4].allclose(alone[.., 0], 1e-6, 1e-6));
        Assert.True(padded[.., 0].allclose(model.Layers(full[0..1], null)[.., 0], 1e-6, 1e-6));
    }

    /// <summary>Autograd against central differences in float64, through char-CNN, highway, both LSTM stacks and the
    /// shared softmax, for a sample of elements of every parameter.</summary>
    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel(Tiny());
        model.to(ScalarType.Float64);
        // Types 0 and 1 are the sentence markers; rows hold types 0..5.
        string[] types = ["<S>", "</S>", "ab", "b", "cab", "a"];
        int[][] rows = [[0, 2, 3, 4, 1, 0], [5, 3, 1, 0, 2, 2]];
        var batch = ElmoBatch.From(rows, t => { var r = new int[8]; ElmoVocabulary.CharIds(types[t], r); return r; }, t => t + 3, 0, 1);
        double LossValue() { using var s = NewDisposeScope(); using var _ = no_grad(); var (f, b) = batch.SummedLosses(model); return (f + b).item<double>(); }

        model.zero_grad();
        var (f0, b0) = batch.SummedLosses(model);
        (f0 + b0).backward();
        var rng = new Random(5);
        int checkedCount = 0;
        foreach (var (name, p) in model.named_parameters())
        {
            var grad = p.grad!.contiguous().view(-1);
            var flat = p.detach().view(-1);
            for (int n = 0; n < 3; n++)
            {
                long i = rng.NextInt64(flat.numel());
                if (name.EndsWith("char_embedding.weight") && i < 4) continue; // the padding row gets no gradient by design
                double original = flat[i].item<double>();
                const double eps = 1e-6;
                using (no_grad()) flat[i] = original + eps;
                double up = LossValue();
                using (no_grad()) flat[i] = original - eps;
                double down = LossValue();
                using (no_grad()) flat[i] = original;
                double numeric = (up - down) / (2 * eps);
                double analytic = grad[i].item<double>();
                Assert.True(Math.Abs(numeric - analytic) <= 1e-6 + 1e-5 * Math.Abs(numeric), $"{name}[{i}]: autograd {analytic} vs finite difference {numeric}");
                checkedCount++;
            }
        }
        Assert.True(checkedCount >= 3 * 20, $"only {checkedCount} elements checked");
    }

    [Fact]
    public void BatchTargetsSkipTheTrivialMarkers()
    {
        int[][] rows = [[1, 0, 2, 3, 1, 0]];
        using var batch = ElmoBatch.From(rows, _ => new int[3], t => 10 + t, 0, 1);
        // Forward: the next token's id, none after the last position nor where the next token is <S> (type 0).
        Assert.Equal([-100, 12, 13, 11, -100, -100], batch.ForwardTargets[0].data<long>().ToArray());
        // Backward: the previous token's id, none at the first position nor where the previous token is </S> (type 1).
        Assert.Equal([-100, -100, 10, 12, 13, -100], batch.BackwardTargets[0].data<long>().ToArray());
        Assert.Equal(4, batch.Chars.size(0)); // distinct types only
    }

    [Fact]
    public void ScalarMixIsTheSoftmaxWeightedSumScaledByGamma()
    {
        using var scope = NewDisposeScope();
        using var mix = new ScalarMix(3);
        var layers = randn(3, 2, 4);
        Assert.True(mix.forward(layers).allclose(layers.mean([0]), 1e-6, 1e-6)); // s = 0, γ = 1: the average
        using (no_grad())
        {
            mix.Weights.copy_(tensor(new float[] { 1f, -0.5f, 2f }));
            mix.Gamma.fill_(0.7);
        }
        double[] e = [Math.Exp(1), Math.Exp(-0.5), Math.Exp(2)];
        double z = e.Sum();
        var expected = (layers[0] * (e[0] / z) + layers[1] * (e[1] / z) + layers[2] * (e[2] / z)) * 0.7;
        Assert.True(mix.forward(layers).allclose(expected, 1e-6, 1e-6));
    }

    [Fact]
    public void SavedModelLoadsWithIdenticalOutputs()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel(Tiny(vocab: 5));
        var vocabulary = new ElmoVocabulary(["<S>", "</S>", "<unk>", "light", "be"]);
        ElmoFolder.Save(dir, model, vocabulary);
        var chars = RandomChars(9, 2, 5, 8);
        using var loaded = LoadedModel.Load(dir);
        Assert.Equal(ModelFamily.Elmo, loaded.Family);
        Assert.NotNull(loaded.Elmo);
        Assert.Equal(vocabulary.Words, ((ElmoVocabulary)loaded.Tokenizer).Words);
        using var _ = no_grad();
        Assert.True(model.Layers(chars, null).allclose(loaded.Elmo!.Layers(chars, null), 0, 0));
        var e1 = new ElmoEmbedder(model).Embed("Let there be light");
        var e2 = loaded.Embed(["Let there be light"])[0];
        Assert.Equal(e1.Sentence, e2.Sentence);
        Assert.Contains("bidirectional language model", loaded.Description);
    }

    /// <summary>The embedder's words and layers, its default vector (the average of the layers), batching, and the refusal of [CLS] pooling.</summary>
    [Fact]
    public void EmbedderGivesEveryLayerOfEveryWord()
    {
        using var scope = NewDisposeScope();
        using var model = NewModel(Tiny());
        var embedder = new ElmoEmbedder(model);
        using var v = embedder.LayerVectors("And God said, Let there be light.");
        Assert.Equal(["And", "God", "said", ",", "Let", "there", "be", "light", "."], v.Words);
        Assert.Equal([3L, 9, 12], v.Layers.shape);
        // Layer 0 is the token representation repeated for both directions.
        Assert.True(v.Layers[0, .., ..6].allclose(v.Layers[0, .., 6..], 0, 0));
        var embedded = embedder.Embed("And God said, Let there be light.");
        Assert.Equal(12, embedder.Dimension);
        Assert.Equal(9, embedded.Tokens.Count);
        Assert.Equal("light", embedded.Tokens[7].Token);
        Assert.Equal("light", "And God said, Let there be light."[embedded.Tokens[7].Start..embedded.Tokens[7].End]);
        var mean = v.Layers.mean([0])[7].data<float>().ToArray();
        for (int i = 0; i < 12; i++) Assert.Equal(mean[i], embedded.Tokens[7].Vector[i], 5);
        // In a batch with a longer sentence, each sentence's vectors are those it gets alone.
        var batch = embedder.LayerVectors(["And God said, Let there be light.", "light"]);
        Assert.True(batch[0].Layers.allclose(v.Layers, 1e-5, 1e-6));
        using var single = embedder.LayerVectors("light");
        Assert.True(batch[1].Layers.allclose(single.Layers, 1e-5, 1e-6));
        var concat = new ElmoEmbedder(model, new EmbeddingOptions { Layers = [0, -1], ConcatLayers = true });
        Assert.Equal(24, concat.Dimension);
        Assert.Throws<InvalidOptionException>(() => new ElmoEmbedder(model, new EmbeddingOptions { Pooling = Pooling.Cls }));
        Assert.Throws<InvalidOptionException>(() => new ElmoEmbedder(model, new EmbeddingOptions { Layers = [3] }));
    }

    /// <summary>A tiny biLM on one sentence repeated: every scored prediction of both directions is determined by its
    /// context, so both perplexities must approach 1. The run's checkpoint then loads and embeds.</summary>
    [Fact]
    public void TinyBiLmLearnsADeterministicCorpus()
    {
        string text = string.Join("\n", Enumerable.Repeat("one two three four five six", 60));
        var options = new ElmoPretrainingOptions
        {
            Model = Tiny() with { ProjectionDim = 16, LstmDim = 24 },
            Vocabulary = new ElmoVocabularySpec { Size = 20 },
            Training = new TrainingConfig
            {
                BatchSize = 8, BlockSize = 16, MaxSteps = 150, LearningRate = 0.02, MinLr = 0.002, WarmupSteps = 10, WeightDecay = 0,
                EvalInterval = 150, EvalIters = 2, LogInterval = 50, CheckpointInterval = 150, Seed = 3,
            },
        };
        string runDir = Path.Combine(dir, "run");
        using (var run = Pretraining.Elmo(PretrainingCorpus.FromTexts([text], [text]), options, new RunFolder(runDir)))
        {
            Assert.Equal(9, run.Data.Vocabulary.VocabSize); // 3 specials + 6 words
            var result = run.Train();
            var m = result.LastEval!.Metrics;
            Assert.True(m["forward_ppl"] < 1.1, $"forward perplexity {m["forward_ppl"]}");
            Assert.True(m["backward_ppl"] < 1.1, $"backward perplexity {m["backward_ppl"]}");
        }
        using var loaded = LoadedModel.Load(runDir);
        Assert.NotNull(loaded.Elmo);
        Assert.Equal(6, loaded.Embed(["one two three four five six"])[0].Tokens.Count);
    }

    static TaskData Sentiment() => new("sentiment", Enumerable.Range(0, 8).Select(i => new TaskExample(i + 2,
        i % 2 == 0 ? "Let there be light and the day." : "The darkness he called Night.", i % 2 == 0 ? "the earth" : "the heaven", null, i % 2 == 0 ? "light" : "dark")).ToList());

    /// <summary>
    /// `ptm finetune` over an ELMo folder: a classify head (frozen biLM: only the scalar mix and classifier move, and the
    /// mix does move) and a pair head both learn a separable toy task, and a saved fine-tuned folder predicts the same.
    /// </summary>
    [Fact]
    public void FineTunesClassifyAndPairHeads()
    {
        string pre = Path.Combine(dir, "pre");
        using (var model = NewModel(Tiny(vocab: 5)))
            ElmoFolder.Save(pre, model, new ElmoVocabulary(["<S>", "</S>", "<unk>", "light", "be"]));
        var data = Sentiment();
        var frozen = new FineTuner(pre, FineTuneTask.Classify, new FineTuningOptions { Epochs = 15, BatchSize = 4, LearningRate = 0.05, FreezeEncoder = true, Seed = 3 })
            .Run(data, data, Path.Combine(dir, "ft"));
        Assert.Equal(1.0, frozen.Best);
        var head = (ElmoForSequenceClassification)frozen.Model.Module;
        using (var original = NewModel(Tiny(vocab: 5)))
            foreach (var ((name, a), (_, b)) in original.named_parameters().Zip(head.Elmo.named_parameters()))
                Assert.True(a.allclose(b, 0, 0), $"frozen biLM parameter {name} changed");
        Assert.False(head.Mix.Weights.allclose(zeros(3), 0, 0), "the scalar mix did not learn");
        var reloaded = FineTuneModel.Load(frozen.BestDirectory!);
        Assert.Equal("elmo", reloaded.Info.Family);
        var p1 = FineTuneModel.Load(frozen.BestDirectory!).Predict(reloaded.Encode(data, requireLabels: false));
        using var loaded = LoadedModel.Load(frozen.BestDirectory!);
        var labels = loaded.Classify(data.Examples.Select(e => e.Text).ToList());
        Assert.Equal(data.Examples.Select(e => e.Label), labels.Select(l => l.Label));
        Assert.Equal(p1.Select(p => p.Class), labels.Select(l => l.Index));

        var pair = new FineTuner(pre, FineTuneTask.Pair, new FineTuningOptions { Epochs = 15, BatchSize = 4, LearningRate = 0.01, Seed = 3 }).Run(data, data);
        Assert.Equal(1.0, pair.Best);
        Assert.Throws<InvalidInputException>(() => new FineTuner(pre, FineTuneTask.Choice).Run(data, data));
    }

    /// <summary>`ptm pretrain elmo` on a tiny config reports both perplexities, resumes, names a bad field in one line,
    /// and its run folder feeds `ptm embed`.</summary>
    [Fact]
    public void CliPretrainsResumesAndEmbeds()
    {
        string corpus = Path.Combine(dir, "corpus.txt");
        File.WriteAllText(corpus, string.Join("\n", Enumerable.Range(0, 40).Select(i => i % 2 == 0 ? "And God said, Let there be light." : "And there was light.")));
        string config = Path.Combine(dir, "elmo.json");
        File.WriteAllText(config, """
            { "model": { "max_characters_per_token": 8, "char_embedding_dim": 4, "filters": [[1, 3], [2, 4]], "n_highway": 1,
                         "projection_dim": 8, "lstm_dim": 8, "n_layers": 2, "dropout": 0 },
              "vocabulary": { "size": 50 },
              "training": { "batch_size": 4, "block_size": 12, "max_steps": 4, "warmup_steps": 1, "eval_interval": 4, "eval_iters": 1,
                            "log_interval": 2, "checkpoint_interval": 4 } }
            """);
        string run = Path.Combine(dir, "cli-run");
        var r = CliHarness.Run("pretrain", "elmo", "--config", config, "--data", corpus, "--out", run);
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        Assert.Matches(@"validation perplexity: forward \d+\.\d\d \(loss \d+\.\d{4}\), backward \d+\.\d\d", r.Out);
        var resumed = CliHarness.Run("pretrain", "elmo", "--out", run, "--resume", "--max-steps", "6");
        Assert.True(resumed.ExitCode == 0, resumed.Err + resumed.Out);
        Assert.Contains("resuming at step 4", resumed.Out);
        var bad = CliHarness.Run("pretrain", "elmo", "--config", config, "--data", corpus, "--out", Path.Combine(dir, "bad"), "--set", "model.n_layers=0");
        CliHarness.AssertOneLineError(bad, "n_layers");
        string sentences = Path.Combine(dir, "sentences.txt");
        File.WriteAllText(sentences, "Let there be light.\nAnd there was light.\n");
        var embed = CliHarness.Run("embed", "--model", run, "--file", sentences, "--word", "light", "--layers", "-1");
        Assert.True(embed.ExitCode == 0, embed.Err + embed.Out);
        Assert.Contains("contextual vectors of \"light\"", embed.Out);
        CliHarness.AssertOneLineError(CliHarness.Run("embed", "--model", run, "--file", sentences, "--out", Path.Combine(dir, "v.jsonl"), "--pooling", "cls"), "no [CLS]");
    }
}
