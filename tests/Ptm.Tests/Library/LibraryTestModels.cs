using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.Library;

/// <summary>Tiny model folders written straight from the library (random weights; the API's plumbing is under test):
/// a GPT with a byte-level BPE, a BERT with WordPiece, and a BERT fine-tuned (untrained head) to classify.</summary>
public sealed class LibraryTestModels : IDisposable
{
    public static readonly string[] Corpus =
    [
        "In the beginning God created the heaven and the earth.",
        "And God said, Let there be light: and there was light.",
        "And the evening and the morning were the first day.",
        "And the darkness he called Night.",
    ];

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ptm-lib-" + Guid.NewGuid().ToString("N"));
    public string GptDir => Path.Combine(Root, "gpt");
    public string BertDir => Path.Combine(Root, "bert");
    public string ClassifierDir => Path.Combine(Root, "classifier");

    public LibraryTestModels()
    {
        Directory.CreateDirectory(GptDir);
        Directory.CreateDirectory(BertDir);
        manual_seed(11);
        var bpe = ByteLevelBpeTokenizer.Train(Corpus, 300, [ByteLevelBpeTokenizer.EndOfText]);
        using (var gpt = new Gpt(new GptConfig { VocabSize = bpe.VocabSize, NPositions = 32, NEmbd = 16, NLayer = 2, NHead = 2, InitializerRange = 0.2 }))
            ModelFolder.SaveModel(GptDir, gpt, bpe);
        var wp = WordPieceTokenizer.Train(Corpus, 100);
        using (var bert = new BertForPreTraining(new BertConfig
        {
            VocabSize = wp.VocabSize, HiddenSize = 16, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 32,
            MaxPositionEmbeddings = 48,
        }))
            ModelFolder.SaveModel(BertDir, bert, wp);
        using var ft = FineTuneModel.FromPretrained(BertDir, FineTuneTask.Classify, new LabelMap(["dark", "light"]), new HeadOptions(Seed: 5));
        ft.Save(ClassifierDir);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
