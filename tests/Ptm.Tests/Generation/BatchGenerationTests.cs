using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.Generation;

public class BatchGenerationTests
{
    static readonly CharTokenizer Letters = new(Enumerable.Range(0, 32).Select(i => ((char)('a' + i)).ToString()));

    /// <summary>Seed 99 of the shared tiny model: 40 new tokens slide every row's window, each at its own step.</summary>
    static Gpt NewModel() => TinyGenerationModel.Create(99);

    static readonly int[][] Prompts = [[7], [3, 17, 5, 29, 11], [4, 4, 9], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [30, 2]];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EachGreedyRowEqualsItsPromptAlone(bool useCache)
    {
        var generator = new TextGenerator(NewModel(), Letters);
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 40, UseCache = useCache };
        var steps = generator.GenerateIds(Prompts, options).ToList();
        Assert.Equal(40, steps.Count);
        for (int b = 0; b < Prompts.Length; b++)
        {
            var alone = generator.GenerateIds(Prompts[b], options).ToArray();
            Assert.Equal(alone, steps.Select(s => s[b]).ToArray());
        }
        // The rows really differ, so a mix-up between them would show.
        Assert.True(Enumerable.Range(0, Prompts.Length).Select(b => string.Join(",", steps.Select(s => s[b]))).Distinct().Count() > 3);
    }

    [Fact]
    public void RepetitionPenaltyIsPerRow()
    {
        var generator = new TextGenerator(NewModel(), Letters);
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 30, RepetitionPenalty = 1.8 };
        var steps = generator.GenerateIds(Prompts, options).ToList();
        for (int b = 0; b < Prompts.Length; b++)
            Assert.Equal(generator.GenerateIds(Prompts[b], options).ToArray(), steps.Select(s => s[b]).ToArray());
    }

    [Fact]
    public void EachRowStopsAtItsOwnStopString()
    {
        var generator = new TextGenerator(NewModel(), Letters);
        string[] prompts = ["h", "dradf", "eej", "abcdefghijk", "ec"];
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 40 };
        var full = prompts.Select(p => string.Concat(generator.Generate(p, options))).ToArray();
        // A stop string from row 1's text that row 0's lacks: some rows stop early, others run to the end.
        string stop = Enumerable.Range(0, full[1].Length - 1).Select(i => full[1].Substring(i, 2)).First(s => !full[0].Contains(s));
        var withStop = options with { Stop = [stop] };
        var batch = generator.GenerateBatch(prompts, withStop);
        var alone = prompts.Select(p => string.Concat(generator.Generate(p, withStop))).ToArray();
        Assert.Equal(alone, batch);
        Assert.Contains(batch, t => t.Length < 40);
        Assert.Contains(batch, t => t.Length == 40);
        Assert.Equal(full[1][..full[1].IndexOf(stop, StringComparison.Ordinal)], batch[1]);
    }

    /// <summary>The letters, with one of them standing in for &lt;|endoftext|&gt;.</summary>
    sealed class LettersWithEndOfText(int endOfText) : ITokenizer
    {
        public string Kind => Letters.Kind;
        public int VocabSize => Letters.VocabSize;
        public int? EndOfTextId => endOfText;
        public int[] Encode(string text) => Letters.Encode(text);
        public byte[] DecodeToBytes(ReadOnlySpan<int> ids) => Letters.DecodeToBytes(ids);
        public string Decode(ReadOnlySpan<int> ids) => Letters.Decode(ids);
        public void Save(string directory) => Letters.Save(directory);
    }

    [Fact]
    public void EachRowEndsAtItsOwnEndOfText()
    {
        using var model = NewModel();
        string[] prompts = ["h", "dradf", "eej", "abcdefghijk", "ec"];
        var options = new GenerationOptions { Temperature = 0, MaxNewTokens = 40 };
        var full = new TextGenerator(model, Letters).GenerateBatch(prompts, options);
        // Make the first letter of row 1's continuation the end-of-text token: that row ends at once, and any
        // other row ends where the letter first appears in its text.
        var generator = new TextGenerator(model, new LettersWithEndOfText(Letters.Encode(full[1][..1])[0]));
        var batch = generator.GenerateBatch(prompts, options);
        Assert.Equal(prompts.Select(p => string.Concat(generator.Generate(p, options))).ToArray(), batch);
        Assert.Equal("", batch[1]);
        for (int b = 0; b < prompts.Length; b++)
        {
            int at = full[b].IndexOf(full[1][0]);
            Assert.Equal(at < 0 ? full[b] : full[b][..at], batch[b]);
        }
    }

    [Fact]
    public void CacheIsWrittenInPlaceAcrossStepsAndSlides()
    {
        using var model = NewModel();
        using var decoder = new BatchDecoder(model, Prompts, new GenerationOptions { Temperature = 0 });
        var cache = decoder.Cache!;
        var addresses = Enumerable.Range(0, model.Config.NLayer).Select(l => cache[l].Addresses).ToArray();
        var lengths = new List<int>();
        for (int step = 0; step < 40; step++)
        {
            decoder.Step();
            lengths.Add(cache.Length);
            Assert.Equal(addresses, Enumerable.Range(0, model.Config.NLayer).Select(l => cache[l].Addresses).ToArray());
        }
        // The widest prompt has 11 tokens: the cache grows a column per step, and refills after a slide.
        Assert.Equal(11, lengths[0]);
        Assert.Equal(12, lengths[1]);
        Assert.Contains(lengths.Zip(lengths.Skip(1)), p => p.Second < p.First);
        Assert.All(lengths, l => Assert.InRange(l, 1, model.Config.NPositions));
    }

    [Fact]
    public void BadBatchesAreClearErrors()
    {
        var generator = new TextGenerator(NewModel(), Letters);
        Assert.Throws<InvalidInputException>(() => generator.GenerateIds(Array.Empty<int[]>(), new GenerationOptions()));
        var e = Assert.Throws<InvalidInputException>(() => generator.GenerateIds([[1, 2], Enumerable.Range(0, 16).ToArray()], new GenerationOptions()));
        Assert.Contains("16 tokens", e.Message);
        Assert.Throws<InvalidInputException>(() => generator.GenerateBatch([], new GenerationOptions()));
    }
}
