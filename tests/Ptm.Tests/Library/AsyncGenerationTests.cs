using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.Library;

/// <summary>
/// TextGenerator.GenerateAsync: the same text as the synchronous path, produced on a worker thread (the caller's
/// MoveNextAsync never runs the model), cancellable between tokens, and stoppable by leaving the loop.
/// </summary>
public class AsyncGenerationTests
{
    /// <summary>A character tokenizer that records the threads decoding runs on and can hold decoding at a gate.</summary>
    sealed class WatchedTokenizer(ITokenizer inner) : ITokenizer
    {
        public readonly System.Collections.Concurrent.ConcurrentBag<int> DecodeThreads = [];
        public ManualResetEventSlim Gate { get; } = new(true);
        public string Kind => inner.Kind;
        public int VocabSize => inner.VocabSize;
        public int? EndOfTextId => inner.EndOfTextId;
        public int[] Encode(string text) => inner.Encode(text);
        public byte[] DecodeToBytes(ReadOnlySpan<int> ids)
        {
            DecodeThreads.Add(Environment.CurrentManagedThreadId);
            Assert.True(Gate.Wait(TimeSpan.FromSeconds(30)), "gate never opened");
            return inner.DecodeToBytes(ids);
        }
        public string Decode(ReadOnlySpan<int> ids) => inner.Decode(ids);
        public void Save(string directory) => inner.Save(directory);
    }

    static readonly CharTokenizer Chars = new("abcdefghijklmnopqrstuvwxyz .,;:!?ABCDEFGHIJKLMNOPQRSTUVWXYZ".Select(c => c.ToString()));

    static Gpt NewModel()
    {
        manual_seed(5);
        var model = new Gpt(new GptConfig { VocabSize = Chars.VocabSize, NPositions = 32, NEmbd = 16, NLayer = 1, NHead = 2, InitializerRange = 0.3, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 });
        model.eval();
        return model;
    }

    static async Task<List<string>> Collect(IAsyncEnumerable<string> pieces)
    {
        var list = new List<string>();
        await foreach (var p in pieces) list.Add(p);
        return list;
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.9)]
    public async Task AsyncPiecesEqualTheSynchronousText(double temperature)
    {
        using var model = NewModel();
        var generator = new TextGenerator(model, Chars);
        var options = new GenerationOptions { Temperature = temperature, MaxNewTokens = 40, Seed = 21 };
        string expected = generator.GenerateText("And the", options);
        var pieces = await Collect(generator.GenerateAsync("And the", options));
        Assert.Equal(40, expected.Length);
        Assert.Equal(expected, string.Concat(pieces));
    }

    [Fact]
    public async Task FirstMoveNextReturnsBeforeTheModelRuns_AndDecodingStaysOffTheCallersThread()
    {
        using var model = NewModel();
        var tokenizer = new WatchedTokenizer(Chars);
        tokenizer.Gate.Reset();
        var generator = new TextGenerator(model, tokenizer);
        int caller = Environment.CurrentManagedThreadId;
        await using var e = generator.GenerateAsync("abc", new GenerationOptions { Temperature = 0, MaxNewTokens = 5 }).GetAsyncEnumerator();
        var first = e.MoveNextAsync();
        // Decoding is held at the gate, so a synchronous implementation could not have returned here.
        Assert.False(first.IsCompleted);
        tokenizer.Gate.Set();
        Assert.True(await first);
        int pieces = 1;
        while (await e.MoveNextAsync()) pieces++;
        Assert.Equal(5, pieces);
        Assert.NotEmpty(tokenizer.DecodeThreads);
        Assert.DoesNotContain(caller, tokenizer.DecodeThreads);
    }

    [Fact]
    public async Task CancellationStopsBetweenTokens()
    {
        using var model = NewModel();
        var generator = new TextGenerator(model, Chars);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in generator.GenerateAsync("abc", new GenerationOptions { Temperature = 0, MaxNewTokens = 10_000, UseCache = false }, cts.Token))
            {
                if (++seen == 3) cts.Cancel();
            }
        });
        Assert.Equal(3, seen);
    }

    [Fact]
    public async Task LeavingTheLoopEarlyStopsTheWorker_AndTheModelIsUsableAgain()
    {
        using var model = NewModel();
        var generator = new TextGenerator(model, Chars);
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 10_000 };
        await foreach (var _ in generator.GenerateAsync("abc", options)) break;
        // Had the worker kept decoding, this second generation would race it on the same model.
        var again = await Collect(generator.GenerateAsync("abc", options with { MaxNewTokens = 8 }));
        Assert.Equal(generator.GenerateText("abc", options with { MaxNewTokens = 8 }), string.Concat(again));
    }

    [Fact]
    public async Task BadOptionsAreThrownByTheFirstMoveNext()
    {
        using var model = NewModel();
        var generator = new TextGenerator(model, Chars);
        var e = await Assert.ThrowsAsync<InvalidOptionException>(async () =>
        {
            await foreach (var _ in generator.GenerateAsync("abc", new GenerationOptions { TopP = 1.5 })) { }
        });
        Assert.Equal("GenerationOptions.TopP must be in (0, 1] (got 1.5)", e.Message);
        Assert.Equal("--top-p must be in (0, 1] (got 1.5)", e.MessageFor("--top-p"));
    }

    [Fact]
    public void GenerationLeavesATrainingModelInTrainingMode()
    {
        using var model = NewModel();
        model.train();
        _ = new TextGenerator(model, Chars).GenerateText("abc", new GenerationOptions { Temperature = 0, MaxNewTokens = 3 });
        Assert.True(model.training);
    }
}
