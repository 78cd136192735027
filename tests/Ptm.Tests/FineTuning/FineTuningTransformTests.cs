using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.Tests.FineTuning;

/// <summary>GPT-1's input transformations and BERT's pair inputs, token by token, and the vocabulary growth.</summary>
public class FineTuningTransformTests
{
    // With 257 tokens and no merges, byte-level BPE gives every byte its own value as id and <|endoftext|> 256,
    // so the expected sequences can be written down by hand. The task tokens then get 257, 258, 259.
    static (ByteLevelBpeTokenizer Tokenizer, Gpt Model) BytesOnly(int modelVocab = 257, int width = 16)
    {
        var tokenizer = ByteLevelBpeTokenizer.Train(["abc"], 257, [ByteLevelBpeTokenizer.EndOfText]);
        Assert.Equal(256, tokenizer.EndOfTextId);
        manual_seed(11);
        return (tokenizer, new Gpt(new GptConfig { VocabSize = modelVocab, NPositions = 32, NEmbd = width, NLayer = 1, NHead = 2 }));
    }

    static GptTaskEncoder Encoder(int maxLength)
    {
        var (tokenizer, model) = BytesOnly();
        var (_, grown, ids) = GptTaskVocabulary.Extend(model, tokenizer);
        return new GptTaskEncoder(grown, ids, maxLength);
    }

    const int S = 257, D = 258, E = 259;

    /// <summary>Bit-identical: same shape and every element equal.</summary>
    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void TaskTokensAreAppendedAfterTheExistingIds()
    {
        var (tokenizer, model) = BytesOnly();
        var (_, grown, ids) = GptTaskVocabulary.Extend(model, tokenizer);
        Assert.Equal(new GptTaskTokens(S, D, E), ids);
        Assert.Equal(260, grown.VocabSize);
        Assert.Equal(["<|start|>", "<|delim|>", "<|extract|>"], [grown.TokenText(S), grown.TokenText(D), grown.TokenText(E)]);
    }

    [Fact]
    public void ClassificationIsStartTextExtract()
    {
        var (seqs, _, cut) = Encoder(32).Encode(FineTuneTask.Classify, new TaskExample(2, "Hi", null, null, "x"));
        Assert.Equal([[S, 72, 105, E]], seqs);
        Assert.False(cut);
    }

    [Fact]
    public void EntailmentIsStartPremiseDelimHypothesisExtract()
    {
        var (seqs, _, _) = Encoder(32).Encode(FineTuneTask.Pair, new TaskExample(2, "ab", "cd", null, "x"));
        Assert.Equal([[S, 97, 98, D, 99, 100, E]], seqs);
    }

    [Fact]
    public void SimilarityEncodesBothOrders()
    {
        var (seqs, _, _) = Encoder(32).Encode(FineTuneTask.Similarity, new TaskExample(2, "ab", "c", null, "1"));
        Assert.Equal([[S, 97, 98, D, 99, E], [S, 99, D, 97, 98, E]], seqs);
    }

    [Fact]
    public void MultipleChoiceIsOneSequencePerAnswer()
    {
        var (seqs, _, _) = Encoder(32).Encode(FineTuneTask.Choice, new TaskExample(2, "a", null, ["b", "cd", "e"], "1"));
        Assert.Equal([[S, 97, D, 98, E], [S, 97, D, 99, 100, E], [S, 97, D, 101, E]], seqs);
    }

    [Fact]
    public void TooLongInputsAreTruncatedLongestFirstAndFlagged()
    {
        var encoder = Encoder(6);
        var (single, _, cut1) = encoder.Encode(FineTuneTask.Classify, new TaskExample(2, "Hello", null, null, "x"));
        Assert.Equal([[S, 72, 101, 108, 108, E]], single);
        Assert.True(cut1);
        var (pair, _, cut2) = encoder.Encode(FineTuneTask.Pair, new TaskExample(2, "abcd", "x", null, "x"));
        Assert.Equal([[S, 97, 98, D, 120, E]], pair);
        Assert.True(cut2);
    }

    [Fact]
    public void GrowingTheVocabularyKeepsOldRowsBitIdenticalAndDrawsNewOnesFromN002()
    {
        var (tokenizer, model) = BytesOnly(width: 256);
        var before = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        var (grown, _, _) = GptTaskVocabulary.Extend(model, tokenizer);
        var wte = grown.state_dict()["transformer.wte.weight"];
        Assert.Equal([260L, 256L], wte.shape);
        Assert.True(Same(wte[..257], before["transformer.wte.weight"]));
        foreach (var (name, t) in grown.state_dict().Where(kv => kv.Key != "transformer.wte.weight"))
            Assert.True(Same(t, before[name]), name);
        var fresh = wte[257..];
        Assert.InRange(fresh.std().item<float>(), 0.017, 0.023);
        Assert.InRange(fresh.mean().item<float>(), -0.004, 0.004);
        // And the same text still encodes to the same ids.
        Assert.Equal(tokenizer.Encode("abc Hello"), GptTaskVocabulary.Extend(model, tokenizer).Tokenizer.Encode("abc Hello"));
    }

    [Fact]
    public void SpareRowsOfAPaddedVocabularyAreReusedAndReinitialised()
    {
        var (tokenizer, model) = BytesOnly(modelVocab: 300, width: 16);
        var old = model.state_dict()["transformer.wte.weight"].clone();
        var (grown, _, ids) = GptTaskVocabulary.Extend(model, tokenizer);
        var wte = grown.state_dict()["transformer.wte.weight"];
        Assert.Equal(300, grown.Config.VocabSize);
        Assert.Equal(S, ids.Start);
        Assert.True(Same(wte[..257], old[..257]));
        Assert.False(Same(wte[257..260], old[257..260]));
    }

    [Fact]
    public void TheGrownTokenizerSurvivesSavingAndFindsItsTaskTokensAgain()
    {
        var (tokenizer, model) = BytesOnly();
        var (_, grown, ids) = GptTaskVocabulary.Extend(model, tokenizer);
        using var dir = new TempDir();
        grown.Save(dir.Path);
        var reloaded = (ByteLevelBpeTokenizer)TokenizerFiles.Load(dir.Path);
        Assert.Equal(ids, GptTaskVocabulary.Find(reloaded));
        Assert.Equal([S, 97, D, E], reloaded.Encode("<|start|>a<|delim|><|extract|>"));
    }

    [Fact]
    public void BertPairsAreClsASepBSepWithSegmentIds()
    {
        var wp = WordPieceTokenizer.Train(FineTuningTestModels.Corpus, 100);
        var (seqs, types, _) = new BertTaskEncoder(wp, 32).Encode(FineTuneTask.Pair, new TaskExample(2, "the light", "the day", null, "x"));
        int[] a = wp.Encode("the light"), b = wp.Encode("the day");
        Assert.Equal([[wp.ClsId, .. a, wp.SepId, .. b, wp.SepId]], seqs);
        Assert.Equal([[0, .. a.Select(_ => 0), 0, .. b.Select(_ => 1), 1]], types);
        var (choice, _, _) = new BertTaskEncoder(wp, 32).Encode(FineTuneTask.Choice, new TaskExample(2, "the", null, ["light", "day"], "0"));
        Assert.Equal([[wp.ClsId, .. wp.Encode("the"), wp.SepId, .. wp.Encode("light"), wp.SepId], [wp.ClsId, .. wp.Encode("the"), wp.SepId, .. wp.Encode("day"), wp.SepId]], choice);
    }
}
