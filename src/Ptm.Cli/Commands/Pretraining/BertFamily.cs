using System.Text.Json.Nodes;
using Ptm.Data;
using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

sealed class BertFamily : IPretrainFamily
{
    static readonly string[] FillMaskExamples =
    [
        "In the beginning God created the [MASK] and the earth.",
        "And God said, Let there be [MASK]: and there was light.",
        "The LORD is my [MASK]; I shall not want.",
    ];

    public string Name => "bert";
    public string DefaultConfig => "configs/bert-kjv.json";

    public void ApplyOverrides(JsonObject config, IEnumerable<string> assignments) => BertRunConfig.ApplyOverrides(config, assignments);

    public void Validate(JsonObject config, string source) => BertRunConfig.FromNode(config.DeepClone().AsObject(), source);

    public bool IsPrepared(string dataSpec) => PreparedData.Matches(dataSpec, wantBert: true);

    public void Prepare(JsonObject config, string source, string dataSpec, string outputDir)
    {
        var run = BertRunConfig.FromNode(config.DeepClone().AsObject(), source);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Console.WriteLine($"preparing {dataSpec} with a WordPiece vocabulary of {run.Tokenizer.VocabSize} tokens...");
        var result = PrepareCommand.RunBert(CorpusTokenizer.Options(dataSpec, null, 0.1, 0), "wordpiece", run.Tokenizer.VocabSize,
            run.Tokenizer.DoLowerCase, run.Data.ToOptions(source), new PrepareOptions(outputDir, Force: true));
        PrepareCommand.PrintBert(result, clock.Elapsed);
    }

    public static MaskingVocabulary MaskingVocabularyOf(WordPieceTokenizer t) =>
        MaskingVocabulary.FromTokenizer(t, t.PadId, t.ClsId, t.SepId, t.MaskId, t.TokenText);

    public PretrainSession Open(JsonObject config, string source, string dataDir)
    {
        if (TokenizerFiles.Load(dataDir) is not WordPieceTokenizer tokenizer)
            throw new InvalidInputException($"{dataDir}: BERT data needs a WordPiece vocabulary (vocab.txt or tokenizer.json)");
        var run = BertRunConfig.FromNode(config, source, tokenizer.VocabSize);
        return new Session(run, tokenizer, dataDir);
    }

    sealed class Session : PretrainSession
    {
        readonly BertRunConfig run;
        readonly WordPieceTokenizer tokenizer;
        readonly BertPretrainingDataset train;
        readonly BertPretrainingDataset validation;
        readonly BertBatcher validationBatches;
        readonly BertForPreTraining model;

        public Session(BertRunConfig run, WordPieceTokenizer tokenizer, string dataDir)
        {
            this.run = run;
            this.tokenizer = tokenizer;
            train = BertPretrainingDataset.Open(dataDir, Preparer.TrainSplit);
            validation = BertPretrainingDataset.Open(dataDir, Preparer.ValidationSplit);
            if (train.MaxSeqLength > run.Model.MaxPositionEmbeddings)
                throw new InvalidInputException($"{dataDir}: sequences of {train.MaxSeqLength} tokens exceed model.max_position_embeddings ({run.Model.MaxPositionEmbeddings})");
            var t = run.Training;
            // Dynamic (RoBERTa) masking draws masks per batch; static data carries its own.
            MlmMasker? Masker(BertPretrainingDataset d) => d.HasStaticMasks ? null : new MlmMasker(MaskingVocabularyOf(tokenizer), d.Manifest.Options.Mlm);
            var trainBatches = new BertBatcher(train, t.BatchSize, (ulong)t.Seed, Masker(train));
            validationBatches = new BertBatcher(validation, t.BatchSize, (ulong)t.Seed + 1, Masker(validation));
            TorchSharp.torch.manual_seed(t.Seed);
            model = new BertForPreTraining(run.Model);
            Objective = new MaskedLmObjective(model, tokenizer, trainBatches, validationBatches);
            DataDir = dataDir;
        }

        string DataDir { get; }
        public override ITrainingObjective Objective { get; }
        public override TrainingConfig Training => run.Training;
        public override JsonObject ResolvedConfig => run.ToNode();
        public override string ModelConfigJson => run.Model.ToJson();

        public override IEnumerable<string> Describe()
        {
            var m = run.Model;
            var t = run.Training;
            yield return $"data      {DataDir} ({train.Count:N0} train instances, {train.Manifest.Objective}, WordPiece vocabulary of {tokenizer.VocabSize})";
            yield return $"model     BERT, {m.NumHiddenLayers} layers, {m.NumAttentionHeads} heads, hidden {m.HiddenSize}, intermediate {m.IntermediateSize}: {model.parameters().Sum(p => p.numel()):N0} parameters";
            yield return $"training  {t.MaxSteps} steps of {t.BatchSize * t.GradientAccumulationSteps} sequences of {train.MaxSeqLength}, lr {t.LearningRate} -> {t.MinLr}";
        }

        public override void Report(EvalReport? lastEval, int samples)
        {
            if (lastEval is { } e)
            {
                string pair = e.Metrics.TryGetValue("pair_acc", out var acc) ? $", {train.Manifest.Objective[4..].ToUpperInvariant()} accuracy {acc:P1}" : "";
                Console.WriteLine($"validation MLM accuracy {e.Metrics["mlm_acc"]:P1} (loss {e.Metrics["mlm_loss"]:F4}){pair}");
                double baseline = UnigramBaseline(run.Training.EvalIters);
                Console.WriteLine($"unigram baseline (always the most frequent training token) on the same masked positions: {baseline:P1}");
            }
            if (samples <= 0) return;
            Console.WriteLine();
            Console.WriteLine("fill-mask:");
            var filler = new MaskFiller(model, tokenizer);
            foreach (string text in FillMaskExamples.Take(samples))
            {
                var top = filler.Fill(text, 5)[0];
                Console.WriteLine($"> {text}");
                Console.WriteLine($"  {string.Join("  ", top.Select(c => $"{c.Token} {c.Probability:P1}"))}");
            }
        }

        /// <summary>Accuracy of predicting the training split's most frequent non-special token at every masked position.</summary>
        double UnigramBaseline(int evalIters)
        {
            var counts = new long[tokenizer.VocabSize];
            var vocab = MaskingVocabularyOf(tokenizer);
            for (long i = 0; i < Math.Min(train.Count, 20_000); i++)
                foreach (int id in train[i].Tokens)
                    if (!vocab.IsSpecial(id)) counts[id]++;
            int top = Array.IndexOf(counts, counts.Max());
            long hit = 0, total = 0;
            foreach (var b in validationBatches.Sequential((long)evalIters * validationBatches.BatchSize))
                foreach (long label in b.MlmLabels)
                    if (label != MlmMasker.IgnoreLabel) { total++; if (label == top) hit++; }
            return total == 0 ? double.NaN : (double)hit / total;
        }

        public override void Dispose()
        {
            train.Dispose();
            validation.Dispose();
        }
    }
}
