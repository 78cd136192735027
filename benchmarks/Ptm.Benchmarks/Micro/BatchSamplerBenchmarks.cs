using BenchmarkDotNet.Attributes;
using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Benchmarks.Micro;

/// <summary>Sampling one training batch (16 × 128, the default config) from a prepared KJV folder.</summary>
public class BatchSamplerBenchmarks
{
    string directory = "";
    TokenDataset dataset = null!;
    BatchSampler sampler = null!;
    long step;

    [GlobalSetup]
    public void Setup()
    {
        directory = Path.Combine(Path.GetTempPath(), "ptm-bench-kjv-" + Guid.NewGuid().ToString("N"));
        var corpus = Corpus.Load(new CorpusOptions(KjvText.TrainPath, KjvText.ValidationPath));
        // A small vocabulary trained on a slice keeps the setup quick; the sampler only reads token ids.
        var tokenizer = ByteLevelBpeTokenizer.Train(corpus.Train.Select(d => KjvText.Prefix(d.Text, 1_000_000)), 512, [ByteLevelBpeTokenizer.EndOfText]);
        Preparer.Prepare(tokenizer, corpus, new PrepareOptions(directory));
        dataset = TokenDataset.Open(directory, Preparer.TrainSplit);
        sampler = new BatchSampler(dataset, batchSize: 16, blockSize: 128, seed: 1337);
    }

    [Benchmark(Description = "BatchSampler.GetBatch 16 x 128")]
    public int GetBatch() => sampler.GetBatch(step++).Inputs.Length;

    [GlobalCleanup]
    public void Cleanup()
    {
        dataset.Dispose();
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }
}
