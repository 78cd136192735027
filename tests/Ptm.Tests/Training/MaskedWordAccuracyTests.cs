using Ptm.Data;
using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.Training;

/// <summary>Content words, per-word masked-LM accuracy (all masked pieces right), and the fixed held-out protocol.</summary>
public class MaskedWordAccuracyTests
{
    // ids:                            0      1      2      3      4       5     6       7      8      9     10     11
    static readonly string[] Vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "light", "##s", "lamp", "unto", ",", "thee"];
    static readonly WordPieceTokenizer Tokenizer = new(Vocab);

    [Fact]
    public void ContentWordsAreLetterWordsOutsideTheShippedFunctionList()
    {
        var c = ContentWords.Default;
        Assert.Equal(231, c.FunctionWords.Count);
        foreach (string w in new[] { "light", "Light", "said", "firmament", "israel", "lamp" }) Assert.True(c.IsContent(w), w);
        foreach (string w in new[] { "the", "unto", "thee", "hath", "shalt", "and", ",", "s", "42", "[UNK]", "lord's" }) Assert.False(c.IsContent(w), w);
    }

    [Fact]
    public void AWordCountsOnlyWhenEveryMaskedPieceIsRight()
    {
        // [CLS] the light ##s unto lamp , thee [SEP] [PAD]
        long[] ids = [2, 5, 6, 7, 9, 8, 10, 11, 3, 0];
        bool[] masked = [false, true, true, true, true, true, true, false, false, false];
        //                    the ok  light ok ##s wrong  unto ok  lamp ok  , wrong
        long[] predicted = [0, 5, 6, 8, 9, 8, 5, 0, 0, 0];
        var acc = new MaskedWordAccuracy(Tokenizer);
        acc.Add(ids, masked, predicted);
        Assert.Equal(5, acc.Words);         // the, lights, unto, lamp, ","
        Assert.Equal(3, acc.WordsCorrect);  // the, unto, lamp
        Assert.Equal(2, acc.Content);       // lights, lamp
        Assert.Equal(1, acc.ContentCorrect); // lamp
        Assert.Equal(0.5, acc.ContentAccuracy);

        // Only the first piece of "lights" masked, and right: the word is right.
        var partial = new MaskedWordAccuracy(Tokenizer);
        partial.Add(ids, [false, false, true, false, false, false, false, false, false, false], predicted);
        Assert.Equal((1L, 1L, 1L, 1L), (partial.Words, partial.WordsCorrect, partial.Content, partial.ContentCorrect));
    }

    [Fact]
    public void TheRunMetricMapsGatheredLogitsBackToTheirPositions()
    {
        // Two rows of 4; masked: row 0 positions 1, 2 ("light ##s"), row 1 position 2 ("lamp").
        long[] inputs = [2, 4, 4, 3, 2, 5, 4, 3];
        long[] labels = [-100, 6, 7, -100, -100, -100, 8, -100];
        var batch = new BertBatch(inputs, new long[8], [1, 1, 1, 1, 1, 1, 1, 1], labels, [-100, -100], 2, 4);
        var logits = zeros(3, Vocab.Length);
        logits[0, 6] = tensor(1f); // light: right
        logits[1, 7] = tensor(1f); // ##s: right
        logits[2, 5] = tensor(1f); // lamp predicted as "the": wrong
        var acc = new MaskedWordAccuracy(Tokenizer);
        MaskedLmObjective.AddWords(acc, batch, logits);
        Assert.Equal((2L, 1L, 2L, 1L), (acc.Words, acc.WordsCorrect, acc.Content, acc.ContentCorrect));
    }

    [Fact]
    public void PackingKeepsLinesInOrderWithinTheBudgetAndNeverSplitsAWord()
    {
        var vocabulary = MaskingVocabulary.FromWordPiece(Tokenizer);
        var packed = MaskedWordEvaluation.Pack(Tokenizer, vocabulary, ["the lights", "unto thee", "", "lamp lights lights"], budget: 4);
        Assert.Equal(4, packed.Count);
        Assert.Equal(new long[] { 5, 6, 7 }, packed[0].Select(i => (long)i));  // the second line does not fit beside it
        Assert.Equal(new long[] { 9, 11 }, packed[1].Select(i => (long)i));    // a blank line ends a sequence
        Assert.Equal(new long[] { 8, 6, 7 }, packed[2].Select(i => (long)i));  // cut before "light", not before "##s"
        Assert.Equal(new long[] { 6, 7 }, packed[3].Select(i => (long)i));
    }

    [Fact]
    public void ChosenWordsAreWholeAndTheirNumberIsTheRoundedFraction()
    {
        var vocabulary = MaskingVocabulary.FromWordPiece(Tokenizer);
        long[] row = [2, 5, 6, 7, 9, 8, 6, 7, 10, 11, 5, 8, 9, 3]; // 10 words, two of them "light ##s"
        for (ulong seed = 0; seed < 50; seed++)
        {
            var rng = SplitMix64.ForStep(seed, 0);
            var chosen = MaskedWordEvaluation.ChooseWords(row, vocabulary, 0.25, ref rng).ToList();
            int words = chosen.Count(i => !vocabulary.IsContinuation((int)row[i]));
            Assert.Equal(3, words); // round(2.5) away from zero
            foreach (int i in chosen.Where(i => row[i] == 6)) Assert.Contains(i + 1, chosen); // "light" brings its "##s"
            foreach (int i in chosen.Where(i => row[i] == 7)) Assert.Contains(i - 1, chosen);
            Assert.DoesNotContain(0, chosen);
            Assert.DoesNotContain(row.Length - 1, chosen);
        }
    }

    [Fact]
    public void TheHeldOutProtocolScoresWhatTheModelPredictsAtEveryMaskedWord()
    {
        manual_seed(3);
        using var model = new BertForPreTraining(new BertConfig
        {
            VocabSize = Vocab.Length, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32,
            MaxPositionEmbeddings = 16, HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0,
        });
        using (no_grad()) model.named_parameters().Single(p => p.name == "cls.predictions.bias").parameter[6] = tensor(100f); // always "light"
        string[] lines = ["the light lamp , lights", "unto thee"];
        var all = MaskedWordEvaluation.Evaluate(model, Tokenizer, lines, new MaskedWordEvaluationOptions { MaskedFraction = 1.0 });
        Assert.Equal(1, all.Sequences);
        Assert.Equal(7, all.Words);            // the light lamp , lights unto thee
        Assert.Equal(1.0 / 7, all.WordAccuracy, 12); // only "light" itself: "lights" needs "##s" too
        Assert.Equal(3, all.ContentWords);     // light lamp lights
        Assert.Equal(1.0 / 3, all.ContentAccuracy, 12);

        // The filler, an independent path through tokenizer and model, agrees at a masked word.
        var top = new MaskFiller(model, Tokenizer).Fill("the [MASK] lamp", 1)[0][0];
        Assert.Equal("light", top.Token);

        var some = MaskedWordEvaluation.Evaluate(model, Tokenizer, lines, new MaskedWordEvaluationOptions { MaskedFraction = 0.3 });
        Assert.Equal(2, some.Words); // round(0.3 · 7)
        Assert.Equal(some, MaskedWordEvaluation.Evaluate(model, Tokenizer, lines, new MaskedWordEvaluationOptions { MaskedFraction = 0.3 }));
    }
}
