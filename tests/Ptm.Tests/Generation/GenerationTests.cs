using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tests.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Generation;

public class GenerationTests
{
    static readonly CharTokenizer Chars = new("abcdefghij ".Select(c => c.ToString()));

    static TextGenerator NewGenerator(out Gpt model, int positions = 64)
    {
        manual_seed(3);
        model = new Gpt(GptModelTests.Tiny() with { NPositions = positions, NEmbd = 16, NHead = 2 });
        model.eval();
        return new TextGenerator(model, Chars);
    }

    [Fact]
    public void GreedyPicksTheArgmaxAtEveryStep()
    {
        var generator = NewGenerator(out var model);
        var ids = generator.GenerateIds([1, 2, 3], new GenerationOptions { Temperature = 0, MaxNewTokens = 12 }).ToList();
        var context = new List<long> { 1, 2, 3 };
        using var _ = no_grad();
        foreach (int id in ids)
        {
            using var scope = NewDisposeScope();
            var logits = model.forward(tensor(context.ToArray(), 1, context.Count));
            Assert.Equal(logits[0, -1].argmax().item<long>(), id);
            context.Add(id);
        }
    }

    [Fact]
    public void CachedAndUncachedGenerationAgreeWithinTheContext()
    {
        // With a 16-position context, 13 new tokens after a 3-token prompt fill it exactly: both paths then
        // condition on the same tokens. Going further makes the cache slide its window.
        var generator = NewGenerator(out _, positions: 16);
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 13 };
        var cached = generator.GenerateIds([4, 5, 6], options).ToList();
        var uncached = generator.GenerateIds([4, 5, 6], options with { UseCache = false }).ToList();
        Assert.Equal(uncached, cached);
        Assert.Equal(40, generator.GenerateIds([4, 5, 6], options with { MaxNewTokens = 40 }).Count());
    }

    [Fact]
    public void SameSeedSameTextDifferentSeedDifferentText()
    {
        var generator = NewGenerator(out _);
        var options = new GenerationOptions { Temperature = 1.5, MaxNewTokens = 40, Seed = 11 };
        string a = string.Concat(generator.Generate("abc", options));
        string b = string.Concat(generator.Generate("abc", options));
        string c = string.Concat(generator.Generate("abc", options with { Seed = 12 }));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Equal(40, a.Length);
    }

    [Fact]
    public void TopKOfOneAndTinyTopPAreGreedy()
    {
        var generator = NewGenerator(out _);
        var greedy = generator.GenerateIds([1], new GenerationOptions { Temperature = 0, MaxNewTokens = 15 }).ToList();
        Assert.Equal(greedy, generator.GenerateIds([1], new GenerationOptions { Temperature = 2, TopK = 1, MaxNewTokens = 15, Seed = 5 }).ToList());
        Assert.Equal(greedy, generator.GenerateIds([1], new GenerationOptions { Temperature = 2, TopP = 1e-6, MaxNewTokens = 15, Seed = 5 }).ToList());
    }

    [Fact]
    public void LogitsProcessorsComputeTheDocumentedValues()
    {
        using var scope = NewDisposeScope();
        var logits = tensor(new float[] { 2f, -1f, 0.5f, 1f }, 1, 4);
        var penalised = LogitsProcessing.ApplyRepetitionPenalty(logits, tensor(new long[] { 0, 1, 1 }, 1, 3), 2.0);
        Assert.Equal(new float[] { 1f, -2f, 0.5f, 1f }, penalised.data<float>().ToArray());

        var topk = LogitsProcessing.TopK(logits, 2);
        Assert.Equal(new[] { 2f, float.NegativeInfinity, float.NegativeInfinity, 1f }, topk.data<float>().ToArray());

        // Probabilities are about [0.57, 0.03, 0.13, 0.21]. p = 0.7 keeps 0.57 and 0.21 (the mass before 0.21
        // is 0.57 < 0.7); p = 0.85 also keeps 0.13 (mass before it 0.78 < 0.85).
        var nucleus = LogitsProcessing.TopP(logits, 0.7);
        Assert.Equal(new[] { 2f, float.NegativeInfinity, float.NegativeInfinity, 1f }, nucleus.data<float>().ToArray());
        var keepThree = LogitsProcessing.TopP(logits, 0.85);
        Assert.Equal(new[] { 2f, float.NegativeInfinity, 0.5f, 1f }, keepThree.data<float>().ToArray());
    }

    [Fact]
    public void StopFilterHoldsBackPossibleStartsAndCutsAtTheStop()
    {
        var filter = new StopStringFilter(["END"]);
        Assert.Equal("abc", filter.Push("abcE"));
        Assert.Equal("", filter.Push("N"));
        Assert.Equal("ENx", filter.Push("x"));       // "ENx" cannot become "END": released
        Assert.Equal("ab", filter.Push("abEN"));
        Assert.Equal("", filter.Push("D and more"));
        Assert.True(filter.Stopped);
        Assert.Equal("", filter.Flush());

        var open = new StopStringFilter(["END"]);
        Assert.Equal("x", open.Push("xE"));
        Assert.Equal("E", open.Flush());
    }

    [Fact]
    public void StopStringsTruncateGeneratedText()
    {
        var generator = NewGenerator(out _);
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 30 };
        string full = string.Concat(generator.Generate("abc", options));
        string stop = full.Substring(5, 2);
        string cut = string.Concat(generator.Generate("abc", options with { Stop = [stop] }));
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], cut);
    }

    [Fact]
    public async Task AsyncStreamYieldsTheSameTextAndHonoursCancellation()
    {
        var generator = NewGenerator(out _);
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 20 };
        var pieces = new List<string>();
        await foreach (var p in generator.GenerateAsync("ab", options)) pieces.Add(p);
        Assert.Equal(string.Concat(generator.Generate("ab", options)), string.Concat(pieces));
        Assert.True(pieces.Count > 1, "text should arrive piece by piece");

        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in generator.GenerateAsync("ab", options, cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        Assert.Equal(3, seen);
    }

    [Fact]
    public void BadPromptsAreClearErrors()
    {
        var generator = NewGenerator(out _, positions: 16);
        var e = Assert.Throws<InvalidInputException>(() => generator.Generate(new string('a', 16), new GenerationOptions()));
        Assert.Contains("16 tokens, longer than the context", e.Message);
        var range = Assert.Throws<InvalidInputException>(() => generator.GenerateIds([1, 99], new GenerationOptions()));
        Assert.Contains("token id 99 is outside", range.Message);
        Assert.Throws<InvalidOptionException>(() => generator.Generate("ab", new GenerationOptions { TopP = 0 }));
        var empty = Assert.Throws<InvalidInputException>(() => generator.Generate("", new GenerationOptions()));
        Assert.Contains("no <|endoftext|>", empty.Message);
    }

    [Fact]
    public void LiveTensorCountIsFlatDuringAndAfterA200TokenGeneration()
    {
        var generator = NewGenerator(out _, positions: 256);
        // A first generation lets the model build its one-time caches (SplitRowProduct's weight views, with two threads).
        foreach (var _ in generator.GenerateIds([1, 2], new GenerationOptions { MaxNewTokens = 3, Temperature = 0.9 })) { }
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var live = new List<long>();
        foreach (var _ in generator.GenerateIds([1, 2], new GenerationOptions { MaxNewTokens = 200, Temperature = 0.9 }))
            live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(200, live.Count);
        Assert.Equal(live[10], live[199]);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }
}
