using System.Text.Json.Nodes;
using Ptm.Data;
using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;

namespace Ptm.Cli.Commands.Pretraining;

sealed class GptFamily : IPretrainFamily
{
    static readonly string[] SamplePrompts = ["In the beginning", "And it came to pass", "The LORD is"];

    public string Name => "gpt";
    public string DefaultConfig => "configs/gpt-kjv.json";

    public void ApplyOverrides(JsonObject config, IEnumerable<string> assignments) => GptRunConfig.ApplyOverrides(config, assignments);

    public void Validate(JsonObject config, string source) => GptRunConfig.FromNode(config.DeepClone().AsObject(), source);

    public bool IsPrepared(string dataSpec) => PreparedData.Matches(dataSpec, wantBert: false);

    public void Prepare(JsonObject config, string source, string dataSpec, string outputDir)
    {
        var spec = GptRunConfig.FromNode(config.DeepClone().AsObject(), source).Tokenizer;
        Console.WriteLine($"preparing {dataSpec} with a {spec.Kind} tokenizer{(spec.Kind == "bpe" ? $" of {spec.VocabSize} tokens" : "")}...");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = PrepareCommand.Run(CorpusTokenizer.Options(dataSpec, null, 0.1, 0), spec.Kind, spec.VocabSize, new PrepareOptions(outputDir, Force: true));
        PrepareCommand.Print(result, clock.Elapsed);
    }

    public PretrainSession Open(JsonObject config, string source, string dataDir)
    {
        var tokenizer = TokenizerFiles.Load(dataDir);
        var run = GptRunConfig.FromNode(config, source, tokenizer.VocabSize);
        return new Session(run, tokenizer, dataDir);
    }

    sealed class Session : PretrainSession
    {
        readonly GptRunConfig run;
        readonly ITokenizer tokenizer;
        readonly PreparedTrainingData data;
        readonly Gpt model;
        readonly string dataDir;

        public Session(GptRunConfig run, ITokenizer tokenizer, string dataDir)
        {
            this.run = run;
            this.tokenizer = tokenizer;
            this.dataDir = dataDir;
            var t = run.Training;
            data = new PreparedTrainingData(dataDir, t.BatchSize, t.BlockSize, t.Seed);
            TorchSharp.torch.manual_seed(t.Seed);
            model = new Gpt(run.Model);
            Objective = new CausalLmObjective(model, tokenizer, data);
        }

        public override ITrainingObjective Objective { get; }
        public override TrainingConfig Training => run.Training;
        public override JsonObject ResolvedConfig => run.ToNode();
        public override string ModelConfigJson => run.Model.ToJson();

        public override IEnumerable<string> Describe()
        {
            var m = run.Model;
            var t = run.Training;
            yield return $"data      {dataDir} ({data.Manifest.Splits[Preparer.TrainSplit].Tokens:N0} train tokens, {tokenizer.Kind} vocabulary of {tokenizer.VocabSize})";
            yield return $"model     GPT, {m.NLayer} layers, {m.NHead} heads, n_embd {m.NEmbd}, context {m.NPositions}: {model.ParameterCount():N0} parameters";
            yield return $"training  {t.MaxSteps} steps of {t.BatchSize * t.GradientAccumulationSteps} x {t.BlockSize} tokens, lr {t.LearningRate} -> {t.MinLr}";
        }

        public override void Report(EvalReport? lastEval, int samples)
        {
            if (lastEval is { } e)
                Console.WriteLine($"validation loss {e.Loss:F4}, perplexity {e.Metrics["ppl"]:F2}, bits per byte {e.Metrics["bpb"]:F4}");
            if (samples <= 0) return;
            model.eval();
            var generator = new TextGenerator(model, tokenizer);
            var options = new GenerationOptions { MaxNewTokens = 60, Temperature = 0.8, TopK = 40, Seed = run.Training.Seed, Stop = ["\n\n"] };
            Console.WriteLine();
            Console.WriteLine("samples (temperature 0.8, top-k 40):");
            foreach (string prompt in SamplePrompts.Take(samples))
            {
                try { Console.WriteLine($"> {prompt}{string.Concat(generator.Generate(prompt, options))}"); }
                catch (InvalidInputException) { Console.WriteLine($"> (prompt \"{prompt}\" is not encodable with this vocabulary)"); }
            }
        }

        public override void Dispose() => data.Dispose();
    }
}
