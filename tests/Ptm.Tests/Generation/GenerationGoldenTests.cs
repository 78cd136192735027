using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.Generation;

/// <summary>
/// Exact ids from a fixed tiny model, recorded before the decoding loop was optimised: the fast paths must pick the
/// very same tokens, greedy and seeded sampling alike, with and without the KV cache, across the sliding window.
/// The model's weights are drawn with a large init range so that its choices are varied and decided by wide margins.
/// </summary>
public class GenerationGoldenTests
{
    static readonly int[] Prompt = [3, 17, 5, 29, 11];

    static TextGenerator NewGenerator() =>
        new(TinyGenerationModel.Create(20261127), new CharTokenizer(Enumerable.Range(0, 32).Select(i => ((char)('A' + i)).ToString())));

    public static TheoryData<string> Cases() => new(Golden.Keys);

    static readonly Dictionary<string, GenerationOptions> Options = new()
    {
        ["greedy"] = new() { Temperature = 0, MaxNewTokens = 40 },
        ["greedy-no-cache"] = new() { Temperature = 0, MaxNewTokens = 40, UseCache = false },
        ["greedy-penalty"] = new() { Temperature = 0, MaxNewTokens = 40, RepetitionPenalty = 1.5 },
        ["sample"] = new() { Temperature = 1.0, MaxNewTokens = 40, Seed = 5 },
        ["sample-no-cache"] = new() { Temperature = 1.0, MaxNewTokens = 40, Seed = 5, UseCache = false },
        ["top-k-top-p-penalty"] = new() { Temperature = 0.8, TopK = 8, TopP = 0.9, RepetitionPenalty = 1.3, MaxNewTokens = 40, Seed = 9 },
    };

    static readonly Dictionary<string, int[]> Golden = new()
    {
        ["greedy"] = [22, 20, 22, 20, 20, 20, 22, 20, 20, 22, 20, 20, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 22, 22, 15, 22, 22, 22, 20, 22, 20, 22, 20, 15, 15, 15, 15, 15, 15, 15],
        ["greedy-no-cache"] = [22, 20, 22, 20, 20, 20, 22, 20, 20, 22, 20, 20, 22, 23, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 26, 23, 23, 23, 23, 26, 26, 26, 26, 26, 26, 26],
        ["greedy-penalty"] = [22, 20, 22, 20, 20, 23, 15, 26, 0, 15, 15, 12, 12, 12, 15, 27, 16, 17, 17, 8, 17, 15, 22, 15, 15, 22, 22, 22, 20, 22, 15, 22, 1, 15, 15, 22, 22, 20, 22, 20],
        ["sample"] = [22, 3, 22, 10, 20, 10, 3, 20, 4, 22, 20, 17, 12, 8, 8, 23, 0, 15, 12, 29, 22, 22, 20, 29, 26, 16, 26, 27, 2, 22, 29, 1, 1, 1, 20, 12, 12, 8, 20, 24],
        ["sample-no-cache"] = [22, 3, 22, 10, 20, 10, 3, 20, 4, 22, 20, 17, 12, 23, 8, 23, 12, 15, 15, 5, 15, 15, 20, 22, 26, 16, 26, 15, 2, 22, 6, 1, 1, 1, 23, 9, 8, 20, 20, 24],
        ["top-k-top-p-penalty"] = [15, 26, 17, 23, 3, 12, 12, 12, 24, 12, 22, 20, 15, 12, 15, 15, 26, 0, 21, 17, 23, 26, 15, 15, 27, 16, 16, 17, 1, 0, 12, 12, 15, 26, 26, 15, 5, 17, 23, 12],
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void IdsMatchTheRecordedOnes(string name)
    {
        // One thread and two: with two, single-row products are split over both (SplitRowProduct), which must not
        // change a bit.
        foreach (int threads in new[] { 1, 2 })
            Ptm.Tests.Kernels.SplitRowProductTests.WithThreads(threads, () =>
                Assert.Equal(Golden[name], NewGenerator().GenerateIds(Prompt, Options[name]).ToArray()));
    }
}
