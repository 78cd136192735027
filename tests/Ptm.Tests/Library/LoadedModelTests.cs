using Ptm.Embeddings;
using Ptm.FineTuning;
using Ptm.Generation;
using Ptm.HuggingFace;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.Library;

/// <summary>LoadedModel: any folder in, the right model out, one call per job, modes and ownership respected.</summary>
public class LoadedModelTests(LibraryTestModels models) : IClassFixture<LibraryTestModels>
{
    [Fact]
    public void GptFolder_IsALanguageModel_AndGeneratesWhatTextGeneratorDoes()
    {
        using var model = LoadedModel.Load(models.GptDir);
        Assert.Equal(ModelFamily.Gpt2, model.Family);
        Assert.Null(model.Task);
        Assert.Null(model.Labels);
        Assert.False(model.IsHuggingFaceFolder);
        Assert.Equal("gpt2, language model", model.Description);
        var options = new GenerationOptions { MaxNewTokens = 12, Seed = 3 };
        var (gpt, tokenizer) = ModelFolder.LoadGpt(models.GptDir);
        using (gpt)
            Assert.Equal(new TextGenerator(gpt, tokenizer).GenerateText("And God", options), model.Generate("And God", options));
        var greedy = options with { Temperature = 0 };
        Assert.Equal(model.Generate("And God", greedy), model.Generate(["And God"], greedy)[0]);
    }

    [Fact]
    public void Score_PerTokenLogProbabilities_MatchAFloat64Reference_AndSumToTheTotal()
    {
        using var model = LoadedModel.Load(models.GptDir);
        const string text = "And God said, Let there be light.";
        var score = model.Score(text);
        int[] ids = [model.Tokenizer.EndOfTextId!.Value, .. model.Tokenizer.Encode(text)];
        Assert.Equal(ids.Length - 1, score.TokenLogProbabilities.Count);
        Assert.Equal(ids[1..], score.TokenLogProbabilities.Select(t => t.Id));
        Assert.Equal(text, string.Concat(score.TokenLogProbabilities.Select(t => t.Text)));
        using var _ = no_grad();
        using var x = tensor(ids[..^1].Select(i => (long)i).ToArray(), 1, ids.Length - 1);
        using var logits = model.Gpt!.forward(x);
        using var reference = logits[0].to_type(ScalarType.Float64).log_softmax(-1);
        for (int t = 0; t < ids.Length - 1; t++)
            Assert.Equal(reference[t, ids[t + 1]].item<double>(), score.TokenLogProbabilities[t].LogProbability, 4);
        Assert.Equal(score.TokenLogProbabilities.Sum(t => t.LogProbability), score.TotalLogProbability, 3);
        Assert.True(double.IsFinite(score.Loss) && score.Loss > 0);
    }

    [Fact]
    public void BertFolder_FillsMasks_Embeds_AndRefusesToGenerate()
    {
        using var model = LoadedModel.Load(models.BertDir);
        Assert.Equal(ModelFamily.Bert, model.Family);
        Assert.Equal("bert, pre-training heads", model.Description);
        var filled = model.FillMask("And God said, Let there be [MASK].", new FillMaskOptions { TopK = 3 });
        Assert.Single(filled);
        Assert.Equal(3, filled[0].Count);
        Assert.True(filled[0][0].Probability >= filled[0][1].Probability);
        var vectors = model.Embed(["the first day", "the darkness"]);
        Assert.Equal(16, vectors[0].Sentence.Length);
        Assert.Equal(1.0, model.Similarity("the first day", "the first day"), 6);
        Assert.True(model.Similarity("the first day", "the darkness") < 0.999999);
        var e = Assert.Throws<InvalidInputException>(() => model.Generate("x"));
        Assert.Contains("needs a GPT language model", e.Message);
        Assert.Contains("bert", e.Message);
    }

    [Fact]
    public void CallsLeaveTheModelsTrainingModeAsTheyFoundIt()
    {
        using (var gpt = LoadedModel.Load(models.GptDir))
        {
            Assert.False(gpt.Gpt!.training);
            gpt.Gpt.train();
            gpt.Score("And the evening");
            gpt.Generate("And", new GenerationOptions { MaxNewTokens = 2 });
            Assert.True(gpt.Gpt.training);
        }
        using var bert = LoadedModel.Load(models.BertDir);
        bert.Bert!.train();
        bert.FillMask("the [MASK] day");
        bert.Embed(["the first day"]);
        Assert.True(bert.Bert.training);
        Assert.True(bert.Bert.Bert.training);
    }

    [Fact]
    public void HuggingFaceFolder_LoadsWithTheSameLogits()
    {
        string hf = Path.Combine(models.Root, "hf-gpt-" + Guid.NewGuid().ToString("N"));
        HfCheckpoint.ExportFolder(models.GptDir, hf);
        using var ours = LoadedModel.Load(models.GptDir);
        using var theirs = LoadedModel.Load(hf);
        Assert.True(theirs.IsHuggingFaceFolder);
        Assert.Equal(ModelFamily.Gpt2, theirs.Family);
        Assert.Equal(ours.Score("And the earth").Loss, theirs.Score("And the earth").Loss, 5);
    }

    [Fact]
    public void RunFolder_ResolvesToItsBestModel()
    {
        string run = Path.Combine(models.Root, "run-" + Guid.NewGuid().ToString("N"));
        CopyDirectory(models.BertDir, Path.Combine(run, Checkpoints.BestFolder));
        using var model = LoadedModel.Load(run);
        Assert.Equal(Path.Combine(run, Checkpoints.BestFolder), model.Directory);
        Assert.Equal(ModelFamily.Bert, model.Family);
    }

    [Fact]
    public void FineTunedFolder_ClassifiesStrings_AsFineTuneModelPredicts()
    {
        using var model = LoadedModel.Load(models.ClassifierDir);
        Assert.Equal(FineTuneTask.Classify, model.Task);
        Assert.Equal(["dark", "light"], model.Labels);
        Assert.Equal("bert, classify head (dark, light)", model.Description);
        string[] texts = ["Let there be light.", "The darkness he called Night."];
        var predictions = model.Classify(texts);
        using var ft = FineTuneModel.Load(models.ClassifierDir);
        var data = new TaskData("t", texts.Select((t, i) => new TaskExample(i + 1, t, null, null, null)).ToList());
        var expected = ft.Predict(ft.Encode(data, requireLabels: false));
        for (int i = 0; i < texts.Length; i++)
        {
            Assert.Equal(expected[i].Class, predictions[i].Index);
            Assert.Equal(ft.Labels!.Labels[expected[i].Class], predictions[i].Label);
            Assert.Equal(expected[i].Probabilities[1], predictions[i].Probabilities["light"], 6);
        }
        Assert.Throws<InvalidInputException>(() => model.Score("x"));
    }

    [Fact]
    public void DisposedModelRefusesWork()
    {
        var model = LoadedModel.Load(models.GptDir);
        model.Dispose();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() => model.Score("And"));
    }

    [Fact]
    public void UnknownModelTypeIsOneLineNamingTheFile()
    {
        string dir = Path.Combine(models.Root, "t5-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, ModelFolder.ConfigFile), """{"model_type": "t5"}""");
        var e = Assert.Throws<InvalidInputException>(() => LoadedModel.Load(dir));
        Assert.Contains(Path.Combine(dir, ModelFolder.ConfigFile), e.Message);
        Assert.Contains("\"gpt2\" or \"bert\"", e.Message);
    }

    [Fact]
    public void ModelFamilyRoundTripsModelType()
    {
        foreach (var family in ModelFamilies.All)
            Assert.Equal(family, ModelFamilies.Parse(family.ModelType, "test"));
        Assert.Equal("gpt2", ModelFamily.Gpt2.ModelType);
        Assert.Equal("bert", ModelFamily.Bert.ModelType);
        Assert.False(ModelFamilies.TryParse("GPT2", out _));
    }

    static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }
}
