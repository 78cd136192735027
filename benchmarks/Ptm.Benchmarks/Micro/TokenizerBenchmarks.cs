using BenchmarkDotNet.Attributes;
using Ptm.Tokenization;

namespace Ptm.Benchmarks.Micro;

/// <summary>Byte-level BPE encoding of ~100 KB of KJV with a 2048-token vocabulary trained on the KJV training text.</summary>
public class TokenizerBenchmarks
{
    const int TextBytes = 100_000;
    ByteLevelBpeTokenizer tokenizer = null!;
    string text = "";

    [GlobalSetup]
    public void Setup()
    {
        string corpus = File.ReadAllText(KjvText.TrainPath);
        tokenizer = ByteLevelBpeTokenizer.Train([corpus], 2048, [ByteLevelBpeTokenizer.EndOfText]);
        text = KjvText.Prefix(corpus, TextBytes);
    }

    [Benchmark(Description = "BPE encode ~100 KB KJV (vocab 2048)")]
    public int Encode() => tokenizer.Encode(text).Length;
}
