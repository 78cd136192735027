using BenchmarkDotNet.Attributes;
using Ptm.Data;
using Ptm.Tokenization;

namespace Ptm.Benchmarks.Micro;

/// <summary>
/// One BERT pre-training batch in configs/bert-kjv.json's shape (32 × 64) from a prepared KJV folder, with the masks
/// stored at preparation time (Google's recipe, the default) and with RoBERTa's dynamic masking, drawn per batch on
/// the training thread. Set against a ~300 ms training step, it says whether batches need preparing ahead.
/// </summary>
public class BertBatcherBenchmarks
{
    readonly List<string> directories = [];
    readonly List<BertPretrainingDataset> datasets = [];
    BertBatcher staticBatcher = null!, dynamicBatcher = null!;
    long step;

    [GlobalSetup]
    public void Setup()
    {
        var corpus = Corpus.Load(new CorpusOptions(KjvText.TrainPath, KjvText.ValidationPath));
        // A small vocabulary trained on a slice keeps the setup quick; batching only copies ids and draws masks.
        var wordPiece = WordPieceTokenizer.Train(corpus.Train.Select(d => KjvText.Prefix(d.Text, 1_000_000)), 2000);
        var vocab = MaskingVocabulary.FromTokenizer(wordPiece, wordPiece.PadId, wordPiece.ClsId, wordPiece.SepId, wordPiece.MaskId, wordPiece.TokenText);
        BertPretrainingDataset Prepare(MaskingMode masking)
        {
            string directory = Path.Combine(Path.GetTempPath(), "ptm-bench-bert-" + Guid.NewGuid().ToString("N"));
            directories.Add(directory);
            var options = new BertDataOptions(MaxSeqLength: 64, DupeFactor: 1, Masking: masking, Sentences: SentenceSplitting.Lines);
            BertPretrainingPreparer.Prepare(vocab, corpus, options, new PrepareOptions(directory));
            var data = BertPretrainingDataset.Open(directory, Preparer.TrainSplit);
            datasets.Add(data);
            return data;
        }
        staticBatcher = new BertBatcher(Prepare(MaskingMode.Static), batchSize: 32, seed: 1337);
        dynamicBatcher = new BertBatcher(Prepare(MaskingMode.Dynamic), batchSize: 32, seed: 1337,
            new MlmMasker(vocab, new MlmOptions()));
    }

    [Benchmark(Description = "BertBatcher.GetBatch 32 x 64, masks stored at preparation")]
    public int StaticMasks() => staticBatcher.GetBatch(step++).InputIds.Length;

    [Benchmark(Description = "BertBatcher.GetBatch 32 x 64, dynamic masking")]
    public int DynamicMasks() => dynamicBatcher.GetBatch(step++).InputIds.Length;

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var d in datasets) d.Dispose();
        foreach (string directory in directories)
            try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }
}
