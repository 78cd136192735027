using Ptm.Generation;
using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Tests.Generation;

public class BeamSearchTests
{
    /// <summary>A 5-token model (id 4 ends a sequence) whose choices are varied: small enough to enumerate every output.</summary>
    static Gpt FiveTokenModel(long seed = 7)
    {
        manual_seed(seed);
        var model = new Gpt(new GptConfig
        {
            VocabSize = 5, NPositions = 16, NEmbd = 16, NLayer = 2, NHead = 2, InitializerRange = 0.5,
            ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0,
        });
        model.eval();
        return model;
    }

    /// <summary>Log-probability of <paramref name="tokens"/> after <paramref name="prompt"/> by one full forward, in float64.</summary>
    static double SequenceLogProbability(Gpt model, int[] prompt, int[] tokens)
    {
        using var scope = NewDisposeScope();
        using var mode = no_grad();
        long[] all = [.. prompt.Select(i => (long)i), .. tokens.Select(i => (long)i)];
        var logProbs = model.forward(tensor(all, 1, all.Length)).to(ScalarType.Float64).log_softmax(-1); // (1, T, V)
        double sum = 0;
        for (int i = 0; i < tokens.Length; i++) sum += logProbs[0, prompt.Length - 1 + i, tokens[i]].item<double>();
        return sum;
    }

    /// <summary>Every output of at most <paramref name="maxNew"/> tokens over a 5-token vocabulary: those ending at
    /// the end-of-sequence id 4, and those cut at the length limit.</summary>
    static IEnumerable<int[]> AllOutputs(int maxNew)
    {
        IEnumerable<int[]> Grow(int[] prefix)
        {
            for (int t = 0; t < 5; t++)
            {
                int[] next = [.. prefix, t];
                if (t == 4 || next.Length == maxNew) yield return next;
                else foreach (var s in Grow(next)) yield return s;
            }
        }
        return Grow([]);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(0.0)]
    [InlineData(2.0)]
    [InlineData(-1.0)]
    public void ABeamAsWideAsTheSearchSpaceFindsTheExhaustiveSearchsBest(double lengthPenalty)
    {
        using var model = FiveTokenModel();
        int[] prompt = [1, 2];
        const int maxNew = 3;
        var outputs = AllOutputs(maxNew).ToArray();
        Assert.Equal(1 + 4 + 16 + 64, outputs.Length);
        var scored = outputs.Select(o => (Tokens: o, Score: SequenceLogProbability(model, prompt, o) / Math.Pow(o.Length, lengthPenalty)))
            .OrderByDescending(s => s.Score).ToArray();
        // The best must win by a margin float32 beam sums cannot blur.
        Assert.True(scored[0].Score - scored[1].Score > 1e-4, $"near tie: {scored[0].Score} vs {scored[1].Score}");

        using var decoder = new GptStepDecoder(model, [prompt]);
        var options = new BeamSearchOptions
        {
            NumBeams = outputs.Length, MaxNewTokens = maxNew, EosTokenId = 4, LengthPenalty = lengthPenalty, NumReturnSequences = 3,
        };
        var found = BeamSearch.Run(decoder, options)[0];
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(scored[i].Tokens, found[i].Tokens);
            Assert.Equal(scored[i].Score, found[i].Score, 1e-4);
        }
    }

    [Fact]
    public void OneBeamIsGreedyDecoding()
    {
        using var model = TinyGenerationModel.Create(11);
        int[][] prompts = [[1, 2, 3], [7], [4, 9, 9, 2, 30]];
        const int eos = 5;
        foreach (var prompt in prompts)
        {
            int[] greedy;
            using (var decoder = new GptStepDecoder(model, [prompt])) greedy = BeamSearch.Greedy(decoder, 10, eos)[0];
            using (var decoder = new GptStepDecoder(model, [prompt]))
            {
                var beam = BeamSearch.Run(decoder, new BeamSearchOptions { NumBeams = 1, MaxNewTokens = 10, EosTokenId = eos })[0];
                Assert.Equal(greedy, Assert.Single(beam).Tokens);
            }
        }
    }

    [Fact]
    public void GreedyOverTheStepProtocolMatchesTheTextGeneratorsGreedyBatch()
    {
        using var model = TinyGenerationModel.Create(5);
        int[][] prompts = [[1, 2, 3], [7], [4, 9, 9, 2, 30]];
        var expected = new TextGenerator(model, new Ptm.Tokenization.CharTokenizer(Enumerable.Range(0, 32).Select(i => ((char)('A' + i)).ToString())))
            .GenerateIds(prompts, new GenerationOptions { Temperature = 0, MaxNewTokens = 9 }).ToArray();
        using var decoder = new GptStepDecoder(model, prompts);
        var greedy = BeamSearch.Greedy(decoder, 9);
        for (int b = 0; b < prompts.Length; b++)
            Assert.Equal(expected.Select(step => step[b]), greedy[b]);
    }

    [Fact]
    public void BatchedBeamSearchEqualsOnePromptAtATime()
    {
        using var model = TinyGenerationModel.Create(3);
        int[][] prompts = [[1, 2], [8, 3, 5, 6, 2], [31, 4, 4]];
        var options = new BeamSearchOptions { NumBeams = 3, MaxNewTokens = 8, EosTokenId = 6, NumReturnSequences = 2, NoRepeatNgramSize = 3 };
        IReadOnlyList<IReadOnlyList<BeamHypothesis>> batched;
        using (var decoder = new GptStepDecoder(model, prompts)) batched = BeamSearch.Run(decoder, options, prompts);
        for (int b = 0; b < prompts.Length; b++)
        {
            using var decoder = new GptStepDecoder(model, [prompts[b]]);
            var alone = BeamSearch.Run(decoder, options, [prompts[b]])[0];
            Assert.Equal(alone.Count, batched[b].Count);
            for (int i = 0; i < alone.Count; i++)
            {
                Assert.Equal(alone[i].Tokens, batched[b][i].Tokens);
                Assert.Equal(alone[i].Score, batched[b][i].Score, 1e-4);
            }
        }
    }

    static bool RepeatsAnNgram(int[] tokens, int n)
    {
        var seen = new HashSet<string>();
        for (int i = 0; i + n <= tokens.Length; i++)
            if (!seen.Add(string.Join(",", tokens.Skip(i).Take(n)))) return true;
        return false;
    }

    [Fact]
    public void NoRepeatNgramSizeKeepsEveryBigramUnique()
    {
        using var model = FiveTokenModel(seed: 2);
        int[] prompt = [1, 2, 1];
        var options = new BeamSearchOptions { NumBeams = 3, MaxNewTokens = 10, NumReturnSequences = 3 };
        using (var decoder = new GptStepDecoder(model, [prompt]))
        {
            // Without the option this model does repeat itself, so the check below can fail.
            var free = BeamSearch.Run(decoder, options)[0];
            Assert.Contains(free, h => RepeatsAnNgram([.. prompt, .. h.Tokens], 2));
        }
        using (var decoder = new GptStepDecoder(model, [prompt]))
        {
            var banned = BeamSearch.Run(decoder, options with { NoRepeatNgramSize = 2 }, [prompt])[0];
            Assert.Equal(3, banned.Count);
            foreach (var h in banned)
            {
                Assert.Equal(10, h.Tokens.Length);
                Assert.False(RepeatsAnNgram([.. prompt, .. h.Tokens], 2), string.Join(" ", h.Tokens));
            }
        }
    }

    /// <summary>
    /// A decoder with hand-written probabilities over tokens a = 0, b = 1, end = 2: at the start P(a) = 0.6, P(end) = 0.4;
    /// after "a" P(end) = 0.5, P(a) = 0.3, P(b) = 0.2; anything unlisted is 1e-6.
    /// </summary>
    sealed class ScriptedDecoder : IStepDecoder
    {
        List<List<int>> rows = [[]];
        public long Rows => rows.Count;
        public int VocabSize => 3;
        public int RemainingCapacity => 100;

        static double[] Next(List<int> prefix) => string.Join(",", prefix) switch
        {
            "" => [0.6, 1e-6, 0.4],
            "0" => [0.3, 0.2, 0.5],
            _ => [1e-6, 1e-6, 1.0],
        };

        Tensor LogProbs() =>
            tensor(rows.SelectMany(r => Next(r).Select(p => (float)Math.Log(p))).ToArray(), [rows.Count, 3]);

        public Tensor Start() => LogProbs();

        public Tensor Step(Tensor tokens)
        {
            long[] t = tokens.data<long>().ToArray();
            for (int r = 0; r < rows.Count; r++) rows[r].Add((int)t[r]);
            return LogProbs();
        }

        public void Reorder(Tensor order) => rows = order.data<long>().Select(i => new List<int>(rows[(int)i])).ToList();

        public void Dispose() { }
    }

    [Theory]
    // score = log P / length^α. Ended: [end] ln 0.4 (length 1), [a end] ln 0.3 (length 2); cut at 2 tokens: [a a] ln 0.18.
    [InlineData(0.0, new[] { 2 }, new[] { 0, 2 })]        // ln 0.4 = -0.916 > ln 0.3 = -1.204
    [InlineData(1.0, new[] { 0, 2 }, new[] { 0, 0 })]     // -1.204/2 = -0.602 > ln 0.18 / 2 = -0.857 > -0.916
    [InlineData(2.0, new[] { 0, 2 }, new[] { 0, 0 })]     // -1.204/4 = -0.301 > -1.715/4 = -0.429 > -0.916
    [InlineData(-1.0, new[] { 2 }, new[] { 0, 2 })]       // -0.916 > -1.204·2 = -2.408 > -1.715·2
    public void LengthPenaltyDividesByLengthToThePowerAlpha(double alpha, int[] best, int[] second)
    {
        using var decoder = new ScriptedDecoder();
        var found = BeamSearch.Run(decoder, new BeamSearchOptions
        {
            NumBeams = 2, MaxNewTokens = 2, EosTokenId = 2, LengthPenalty = alpha, NumReturnSequences = 2,
        })[0];
        Assert.Equal(best, found[0].Tokens);
        Assert.Equal(second, found[1].Tokens);
        double expected = best.Length == 1 ? Math.Log(0.4) : Math.Log(0.3) / Math.Pow(2, alpha);
        Assert.Equal(expected, found[0].Score, 1e-6);
    }

    [Fact]
    public void EarlyStoppingTrueStopsAtNumBeamsEndedHypotheses()
    {
        // Both beams end by step 2; the heuristic rule keeps going only while a running beam could still win.
        using var decoder = new ScriptedDecoder();
        var found = BeamSearch.Run(decoder, new BeamSearchOptions
        {
            NumBeams = 2, MaxNewTokens = 5, EosTokenId = 2, EarlyStopping = BeamStopping.Early, NumReturnSequences = 2,
        })[0];
        Assert.Equal([0, 2], found[0].Tokens);
        Assert.Equal([2], found[1].Tokens);
        // Heuristic: at step 2 the best candidate (ln 0.3 / 2) still beats the worst ended one (ln 0.4), so step 3 finds
        // [a a end] = ln 0.18 / 3 = -0.572, better than [a end] = -0.602.
        using var again = new ScriptedDecoder();
        var heuristic = BeamSearch.Run(again, new BeamSearchOptions { NumBeams = 2, MaxNewTokens = 5, EosTokenId = 2, NumReturnSequences = 2 })[0];
        Assert.Equal([0, 0, 2], heuristic[0].Tokens);
        Assert.Equal([0, 2], heuristic[1].Tokens);
    }

    [Fact]
    public void InvalidOptionsNameTheProperty()
    {
        var e = Assert.Throws<InvalidOptionException>(() => new BeamSearchOptions { NumBeams = 2, NumReturnSequences = 3 }.Validate());
        Assert.Equal(nameof(BeamSearchOptions.NumReturnSequences), e.Property);
    }
}
