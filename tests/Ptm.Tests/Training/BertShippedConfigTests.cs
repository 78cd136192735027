using Ptm.Data;
using Ptm.Training;

namespace Ptm.Tests.Training;

/// <summary>
/// The two shipped BERT recipes: <c>configs/bert-kjv.json</c> (the default of <c>ptm pretrain bert</c>: packed full
/// sentences, MLM only, 40% whole-word masking, lr 1e-3, no dropout) and <c>configs/bert-classic-kjv.json</c> (Devlin
/// et al.: MLM + NSP, 15% token masking, lr 5e-4, dropout 0.1). docs/bert.md compares them at the same budget, so they
/// must differ only in the recipe, never in the model, vocabulary, sequence length, batch or step count.
/// </summary>
public class BertShippedConfigTests
{
    static BertRunConfig Read(string name)
    {
        string path = Path.Combine(Ptm.Tests.Data.DataFixtures.FindRepoRoot(), "configs", name);
        return BertRunConfig.FromNode(RunConfigFile.ReadNode(path), path);
    }

    [Fact]
    public void DefaultIsThePackedMlmOnlyRecipe()
    {
        var c = Read("bert-kjv.json");
        var data = c.Data.ToOptions("bert-kjv.json");
        Assert.Equal(PairTask.None, data.Task);
        Assert.Equal(0.4, data.Mlm.MaskedLmProb);
        Assert.True(data.Mlm.WholeWordMasking);
        Assert.Equal(MaskingUnit.Token, data.Mlm.Unit); // whole words, not phrases or entities
        Assert.Equal(1e-3, c.Training.LearningRate);
        Assert.Equal(0.0, c.Model.HiddenDropoutProb);
        Assert.Equal(0.0, c.Model.AttentionProbsDropoutProb);
    }

    [Fact]
    public void ClassicIsDevlinsRecipe()
    {
        var c = Read("bert-classic-kjv.json");
        var data = c.Data.ToOptions("bert-classic-kjv.json");
        Assert.Equal(PairTask.Nsp, data.Task);
        Assert.Equal(0.15, data.Mlm.MaskedLmProb);
        Assert.False(data.Mlm.WholeWordMasking);
        Assert.Equal(5e-4, c.Training.LearningRate);
        Assert.Equal(0.1, c.Model.HiddenDropoutProb);
        Assert.Equal(0.1, c.Model.AttentionProbsDropoutProb);
    }

    [Fact]
    public void RecipesShareModelVocabularyAndBudget()
    {
        var (a, b) = (Read("bert-kjv.json"), Read("bert-classic-kjv.json"));
        Assert.Equal(b.Model with { HiddenDropoutProb = 0, AttentionProbsDropoutProb = 0, Architectures = null }, a.Model with { Architectures = null });
        Assert.Equal(b.Tokenizer, a.Tokenizer);
        Assert.Equal(b.Data.MaxSeqLength, a.Data.MaxSeqLength);
        Assert.Equal(b.Data.DupeFactor, a.Data.DupeFactor);
        Assert.Equal(b.Data.Seed, a.Data.Seed);
        Assert.Equal(b.Training with { LearningRate = a.Training.LearningRate }, a.Training);
    }

    [Theory]
    [InlineData("bert-kjv.json")]
    [InlineData("bert-classic-kjv.json")]
    public void PredictionCapDoesNotCutTheMaskingRate(string name)
    {
        // Google's rule: round(length × masked_lm_prob) predictions, at most max_predictions_per_seq. A cap below the
        // rate's count at full length would silently lower the masking rate the recipe names.
        var d = Read(name).Data;
        Assert.True(d.MaxPredictionsPerSeq >= (int)Math.Round(d.MaxSeqLength * d.MaskedLmProb),
            $"{name}: max_predictions_per_seq {d.MaxPredictionsPerSeq} < round({d.MaxSeqLength} × {d.MaskedLmProb})");
    }
}
