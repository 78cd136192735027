using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.FineTuning;

/// <summary>Tiny "pre-trained" model folders written straight from the library (untrained weights are enough to
/// test the heads' plumbing), and small labelled example sets.</summary>
public sealed class FineTuningTestModels : IDisposable
{
    public static readonly string[] Corpus =
    [
        "In the beginning God created the heaven and the earth.",
        "And God said, Let there be light: and there was light.",
        "And the evening and the morning were the first day.",
        "And the darkness he called Night.",
    ];

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "ptm-ft-" + Guid.NewGuid().ToString("N"));
    public string GptDir => Path.Combine(Root, "gpt");
    public string BertDir => Path.Combine(Root, "bert");

    public FineTuningTestModels()
    {
        Directory.CreateDirectory(GptDir);
        Directory.CreateDirectory(BertDir);
        manual_seed(7);
        var bpe = ByteLevelBpeTokenizer.Train(Corpus, 300, [ByteLevelBpeTokenizer.EndOfText]);
        var gpt = new Gpt(new GptConfig { VocabSize = bpe.VocabSize, NPositions = 48, NEmbd = 16, NLayer = 1, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 });
        ModelFolder.SaveModel(GptDir, gpt, bpe);
        var wp = WordPieceTokenizer.Train(Corpus, 100);
        var bert = new BertForPreTraining(new BertConfig
        {
            VocabSize = wp.VocabSize, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32,
            MaxPositionEmbeddings = 48, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0,
        });
        ModelFolder.SaveModel(BertDir, bert, wp);
    }

    public string Dir(string family) => family == "gpt" ? GptDir : BertDir;

    /// <summary>Two separable classes: sentences about light vs. darkness.</summary>
    public static TaskData Sentiment() => new("sentiment", Enumerable.Range(0, 8).Select(i => new TaskExample(i + 2,
        i % 2 == 0 ? "Let there be light and the day." : "The darkness he called Night.", i % 2 == 0 ? "the earth" : "the heaven", null, i % 2 == 0 ? "light" : "dark")).ToList());

    public static TaskData Choices() => new("choices", Enumerable.Range(0, 8).Select(i => new TaskExample(i + 2,
        "And God said, Let there be", null, i % 2 == 0 ? ["light", "darkness"] : ["darkness", "light"], (i % 2).ToString())).ToList());

    public static TaskData Scores() => new("scores", Enumerable.Range(0, 8).Select(i => new TaskExample(i + 2,
        i % 2 == 0 ? "Let there be light." : "The darkness.", "And there was light.", null, i % 2 == 0 ? "4.5" : "0.5")).ToList());

    /// <summary>Two tagged sentences, four times each.</summary>
    public static TaskData Tags() => new("tags", Enumerable.Range(0, 8).Select(i =>
    {
        string[] words = i % 2 == 0 ? ["And", "God", "said", "Let", "there", "be", "light"] : ["In", "the", "beginning", "God", "created", "the", "heaven"];
        string[] tags = i % 2 == 0 ? ["O", "B-PER", "O", "O", "O", "O", "B-THING"] : ["O", "O", "O", "B-PER", "O", "B-THING", "I-THING"];
        return new TaskExample(i + 2, string.Join(' ', words), null, null, null, words, tags);
    }).ToList());

    public const string QaContext = "In the beginning God created the heaven and the earth. And God said, Let there be light.";

    /// <summary>Two questions about one context, each answered by a different span (the answer is the first match).</summary>
    public static TaskData Questions() => new("questions", Enumerable.Range(0, 4).Select(i =>
    {
        var (question, answer) = i % 2 == 0 ? ("who created?", "God") : ("what was there to be?", "light");
        return new TaskExample(i + 2, question, QaContext, null, answer, AnswerStart: QaContext.IndexOf(answer, StringComparison.Ordinal));
    }).ToList());

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
