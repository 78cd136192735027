using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tests.Cli;
using Ptm.Tests.Training;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.Modeling;

/// <summary>ELECTRA's generator saved as a masked-LM BERT gives the generator's own MLM logits, every tensor mapped
/// where it belongs; checkpoints carry it, it exports from a checkpoint, and fill-mask and evaluate load it.</summary>
public class ElectraGeneratorBertTests
{
    // Factorised: the generator (hidden 8, 1 head) projects the shared 32-wide embeddings.
    static readonly BertConfig Tiny = new()
    {
        VocabSize = 60, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 64, MaxPositionEmbeddings = 16,
    };

    static BertInputs Inputs()
    {
        manual_seed(3);
        var ids = randint(5, 60, [2, 10]);
        var types = cat([zeros(2, 5, ScalarType.Int64), ones(2, 5, ScalarType.Int64)], 1);
        var mask = ones_like(ids);
        mask[1, 7..] = zeros(3, ScalarType.Int64);
        return new BertInputs(ids, types, mask);
    }

    // The generator's MLM logits at every position (B·T, V), computed inside the ELECTRA model.
    static Tensor InModel(ElectraForPreTraining model, BertInputs inputs) => model.Generate(inputs, inputs.InputIds).Logits;

    static Tensor AsBert(BertForPreTraining bert, BertInputs inputs)
    {
        var logits = bert.forward(inputs).MlmLogits;
        return logits.reshape(-1, logits.shape[^1]);
    }

    static double MaxDiff(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    // BERT's initialisation leaves biases at 0 and LayerNorm gains at 1, which would hide a swapped bias or gain.
    static ElectraForPreTraining Perturbed()
    {
        manual_seed(1);
        var model = new ElectraForPreTraining(Tiny, 0.25);
        using (no_grad())
            foreach (var p in model.parameters()) p.add_(randn_like(p) * 0.05);
        model.eval();
        return model;
    }

    [Fact]
    public void TheGeneratorAsBertGivesTheGeneratorsLogitsAndEveryTensorCounts()
    {
        using var model = Perturbed();
        Assert.Equal(8, model.GeneratorConfig.HiddenSize);
        var inputs = Inputs();
        using var _ = no_grad();
        var expected = InModel(model, inputs);
        using var bert = ElectraGeneratorBert.From(model);
        Assert.Equal(32, bert.Config.EmbeddingWidth);
        Assert.Equal(8, bert.Config.HiddenSize);
        Assert.True(MaxDiff(expected, AsBert(bert, inputs)) <= 1e-5);

        // Only the pooler and the pair head are not the generator's.
        var unmapped = bert.state_dict().Keys.Where(k => ElectraGeneratorBert.ElectraName(k) is null).Order(StringComparer.Ordinal);
        Assert.Equal(["bert.pooler.dense.bias", "bert.pooler.dense.weight", "cls.seq_relationship.bias", "cls.seq_relationship.weight"], unmapped);

        // Every mapped tensor changes the logits when replaced, so a tensor left out or copied from the wrong place
        // (the projection skipped, the embeddings' LayerNorm for the head's) would fail the equality above. The key
        // bias is the exception: it adds the same q·b to every score of a query, which softmax cancels exactly.
        foreach (var (name, t) in bert.state_dict())
        {
            if (ElectraGeneratorBert.ElectraName(name) is null || name.EndsWith("attention.self.key.bias", StringComparison.Ordinal)) continue;
            using var saved = t.clone();
            t.copy_(randn_like(t) * 10);
            Assert.True(MaxDiff(expected, AsBert(bert, inputs)) > 1e-5, name);
            t.copy_(saved);
        }
        Assert.True(MaxDiff(expected, AsBert(bert, inputs)) <= 1e-5);
    }

    [Fact]
    public void BuildingTheGeneratorLeavesTheRandomSequenceAndTheModelUntouched()
    {
        using var model = Perturbed();
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        manual_seed(9);
        var expected = rand(4);
        manual_seed(9);
        using (var a = ElectraGeneratorBert.From(model))
        {
            Assert.True(expected.eq(rand(4)).all().item<bool>());
            using var b = ElectraGeneratorBert.From(model);
            // The untrained pooler comes from a fixed seed: the same generator gives the same BERT.
            foreach (var (name, t) in a.state_dict()) Assert.True(t.eq(b.state_dict()[name]).all().item<bool>(), name);
            // Copies, not views: training the ELECTRA model further does not move the exported BERT.
            using (no_grad()) foreach (var p in a.parameters()) p.add_(1);
        }
        foreach (var (name, t) in model.state_dict()) Assert.True(t.eq(before[name]).all().item<bool>(), name);
    }

    static ElectraPretrainingOptions TinyRun(int steps) => new()
    {
        Bert = new BertPretrainingOptions
        {
            Model = new BertConfig { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 4, IntermediateSize = 64, MaxPositionEmbeddings = 32 },
            Tokenizer = new TokenizerSpec { Kind = "wordpiece", VocabSize = 60 },
            Data = new BertDataSpec { MaxSeqLength = 32, DupeFactor = 2, MaxPredictionsPerSeq = 5, PairTask = "none" },
            Training = new TrainingConfig
            {
                BatchSize = 8, BlockSize = 32, MaxSteps = steps, LearningRate = 2e-3, MinLr = 2e-4, WarmupSteps = 1,
                EvalInterval = steps, EvalIters = 1, LogInterval = 1, CheckpointInterval = steps, Seed = 11,
            },
        },
        Electra = new ElectraSpec { GeneratorSize = 0.5 },
    };

    [Fact]
    public void CheckpointsCarryTheGeneratorFolderAndItExportsFillsMasksAndEvaluates()
    {
        using var temp = new TempDir();
        string dir = temp.Path;
        string corpus = temp.File("text.txt", LibraryTrainingTests.Text(30));
        string runDir = Path.Combine(dir, "run");
        using var run = Pretraining.Electra(PretrainingCorpus.FromPath(corpus), TinyRun(2), new RunFolder(runDir));
        string checkpoint = run.Train().Checkpoint!;
        run.Model.eval();
        var inputs = Inputs();

        // The checkpoint's generator/ is a BERT model folder with the trained generator's logits.
        string saved = Path.Combine(checkpoint, ElectraObjective.GeneratorFolder);
        var (bert, tokenizer) = ModelFolder.LoadBert(saved);
        using (bert)
        using (no_grad())
        {
            Assert.Equal(run.WordPiece.Vocabulary, tokenizer.Vocabulary);
            Assert.Equal(16, bert.Config.HiddenSize);
            Assert.Equal(2, bert.Config.NumAttentionHeads);
            Assert.True(MaxDiff(InModel(run.Model, inputs), AsBert(bert, inputs)) <= 1e-5);
        }

        // Exported from the run folder (its latest checkpoint): the same files, byte for byte.
        string exported = Path.Combine(dir, "exported");
        Pretraining.ExportElectraGenerator(runDir, exported);
        Assert.Equal(File.ReadAllBytes(Path.Combine(saved, ModelFolder.WeightsFile)), File.ReadAllBytes(Path.Combine(exported, ModelFolder.WeightsFile)));
        Assert.Equal(File.ReadAllText(Path.Combine(saved, ModelFolder.ConfigFile)), File.ReadAllText(Path.Combine(exported, ModelFolder.ConfigFile)));
        Assert.Contains("already exists", Assert.Throws<InvalidInputException>(() => Pretraining.ExportElectraGenerator(runDir, exported)).Message);

        var cli = CliHarness.Run("export", "--model", runDir, "--generator", "--to", Path.Combine(dir, "cli"));
        Assert.True(cli.ExitCode == 0, cli.Err + cli.Out);
        Assert.Equal(File.ReadAllBytes(Path.Combine(saved, ModelFolder.WeightsFile)), File.ReadAllBytes(Path.Combine(dir, "cli", ModelFolder.WeightsFile)));

        // A weights file without the generator-size metadata: the size follows from the tensor shapes.
        string bare = Path.Combine(dir, "bare");
        Directory.CreateDirectory(bare);
        foreach (string f in Directory.GetFiles(checkpoint)) File.Copy(f, Path.Combine(bare, Path.GetFileName(f)));
        using (var file = SafeTensorsFile.Open(Path.Combine(checkpoint, ElectraObjective.ElectraWeightsFile)))
        {
            Assert.Equal("0.5", file.Metadata[ElectraObjective.GeneratorSizeMetadata]);
            var all = file.LoadAll();
            SafeTensorsWriter.Write(Path.Combine(bare, ElectraObjective.ElectraWeightsFile), all, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var t in all.Values) t.Dispose();
        }
        Pretraining.ExportElectraGenerator(bare, Path.Combine(dir, "from-bare"));
        Assert.Equal(File.ReadAllBytes(Path.Combine(saved, ModelFolder.WeightsFile)), File.ReadAllBytes(Path.Combine(dir, "from-bare", ModelFolder.WeightsFile)));

        // The discriminator folder alone is no ELECTRA checkpoint.
        string discriminatorOnly = Path.Combine(dir, "disc");
        Directory.CreateDirectory(discriminatorOnly);
        foreach (string f in Directory.GetFiles(checkpoint).Where(f => !f.EndsWith(ElectraObjective.ElectraWeightsFile, StringComparison.Ordinal)))
            File.Copy(f, Path.Combine(discriminatorOnly, Path.GetFileName(f)));
        Assert.Contains("not an ELECTRA checkpoint", Assert.Throws<InvalidInputException>(() => Pretraining.ExportElectraGenerator(discriminatorOnly, Path.Combine(dir, "x"))).Message);

        // fill-mask and evaluate read the folder as a BERT; evaluate's accuracy is the in-memory generator's.
        var fill = CliHarness.Run("fill-mask", "--model", saved, "--top-k", "3", "the [MASK] of the");
        Assert.True(fill.ExitCode == 0, fill.Err + fill.Out);
        Assert.Matches(@"%", fill.Out);
        string held = temp.File("held.txt", LibraryTrainingTests.Text(4));
        MaskedWordReport expected;
        using (var inMemory = ElectraGeneratorBert.From(run.Model))
            expected = MaskedWordEvaluation.Evaluate(inMemory, run.WordPiece, File.ReadLines(held));
        var evaluated = CliHarness.Run("evaluate", "--model", saved, "--file", held);
        Assert.True(evaluated.ExitCode == 0, evaluated.Err + evaluated.Out);
        Assert.Contains($"content acc.  {expected.ContentAccuracy:F4}", evaluated.Out);
    }
}
