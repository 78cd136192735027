using System.Diagnostics;
using Ptm.Data;
using Ptm.Distributed;
using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;

namespace Ptm.Training;

public static partial class Pretraining
{
    /// <summary>
    /// Prepares <paramref name="corpus"/> for denoising (unless it is a prepared denoising folder): trains a byte-level
    /// BPE with BART's specials on the training split and packs sentences into sequences; then builds an
    /// encoder–decoder (<see cref="BartForConditionalGeneration"/>) and its trainer. Checkpoints are BART model folders
    /// that <see cref="ModelFolder.LoadBart"/> loads for fine-tuning.
    /// </summary>
    /// <param name="corpus">the text (e.g. a translation task file's source and target columns as two monolingual
    /// blocks, <see cref="PretrainingCorpus.FromTaskFile"/>), or a folder prepared for denoising pre-training</param>
    /// <param name="options">model, vocabulary, noise and training settings; null for the defaults</param>
    /// <param name="runFolder">where to keep run.json, data, metrics and checkpoints; null to write nothing lasting</param>
    /// <param name="log">receives one line per preparation step; null for silence</param>
    /// <param name="processGroup">the ranks to train with data-parallel (see the remarks of <see cref="Pretraining"/>); null for one process</param>
    public static BartPretraining Bart(PretrainingCorpus corpus, BartPretrainingOptions? options = null, RunFolder? runFolder = null,
        Action<string>? log = null, IProcessGroup? processGroup = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        options ??= new BartPretrainingOptions();
        options.Validate();
        Func<string, BartPretraining> open = dir => new BartPretraining(options, dir);
        return Coordinated(processGroup, runFolder is null,
            () => Start(corpus, runFolder, log, IsPreparedDenoising, (dir, l) => PrepareDenoising(corpus, options, dir, l), open, r => r.RunConfig.ToNode(), processGroup),
            () => Follow(runFolder!.Path, open, processGroup!));
    }

    /// <summary>Continues a denoising run folder from its latest checkpoint (see <see cref="ResumeGpt"/>).</summary>
    public static BartPretraining ResumeBart(string runDirectory, BartPretrainingOptions? options = null, ResumeOptions? resume = null,
        IProcessGroup? processGroup = null)
    {
        BartPretraining Open(bool lead)
        {
            var (node, runFile, dataDir, checkpoint) = OpenForResume(runDirectory, resume: resume ?? new ResumeOptions());
            var resolved = options ?? BartPretrainingOptions.From(BartRunConfig.FromNode(node, runFile), vocabSizeFromTokenizer: false);
            resolved.Validate();
            return Continue(new BartPretraining(resolved, dataDir), runDirectory, runFile, node, checkpoint, r => r.RunConfig.ToNode(), processGroup, lead);
        }
        return Coordinated(processGroup, false, () => Open(lead: true), () => Open(lead: false));
    }

    /// <summary>Whether <paramref name="corpus"/> is a folder prepared for denoising pre-training: false for raw text,
    /// true for denoising data, an error for another family's prepared folder.</summary>
    public static bool IsPreparedDenoising(PretrainingCorpus corpus)
    {
        if (!corpus.IsPreparedFolder) return false;
        if (DenoisingData.IsDenoisingFolder(corpus.Path!)) return true;
        throw new InvalidInputException($"{corpus.Path}: holds data prepared for GPT or BERT; denoising pre-training needs raw text or a folder it prepared itself");
    }

    static void PrepareDenoising(PretrainingCorpus corpus, BartPretrainingOptions options, string outputDir, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        log($"preparing {corpus.Name} for denoising with a byte-level BPE of {options.Tokenizer.VocabSize} tokens...");
        var loaded = corpus.Load();
        foreach (string line in DenoisingData.Prepare(loaded, options.Tokenizer.VocabSize, options.Data.MaxSeqLength,
                     options.Data.Splitting(nameof(BartPretrainingOptions)), outputDir))
            log(line);
        log($"prepared in {clock.Elapsed.TotalSeconds:F1} s");
    }
}

/// <summary>A denoising (BART) pre-training run; see <see cref="Pretraining.Bart"/>.</summary>
public sealed class BartPretraining : PretrainingRun
{
    readonly DenoisingData data;
    readonly DenoisingObjective objective;

    internal BartPretraining(BartPretrainingOptions options, string dataDir) : base(dataDir, options.Training)
    {
        data = DenoisingData.Load(dataDir);
        if (data.MaxSeqLength > options.Data.MaxSeqLength)
            throw new InvalidInputException($"{dataDir}: the data was prepared with max_seq_length {data.MaxSeqLength}, above the run's data.max_seq_length {options.Data.MaxSeqLength}");
        RunConfig = new BartRunConfig(options.ModelFor(data.Tokenizer.VocabSize), options.Tokenizer, options.Data, options.Training);
        torch.manual_seed(RunConfig.Training.Seed);
        Model = new BartForConditionalGeneration(RunConfig.Model);
        try { objective = new DenoisingObjective(Model, data, RunConfig.Data.ToNoise(), RunConfig.Training.BatchSize, RunConfig.Data.Seed); }
        catch
        {
            Model.Dispose();
            throw;
        }
    }

    /// <summary>The encoder–decoder being trained.</summary>
    public BartForConditionalGeneration Model { get; }

    /// <summary>The resolved run config, as written to run.json.</summary>
    public BartRunConfig RunConfig { get; }

    /// <summary>The prepared sequences.</summary>
    public DenoisingData Data => data;

    /// <inheritdoc/>
    public override ITokenizer Tokenizer => data.Tokenizer;

    /// <summary>The objective, also the way to reconstructions of held-out text (<see cref="DenoisingObjective.Reconstruct"/>).</summary>
    public DenoisingObjective Denoising => objective;

    /// <inheritdoc/>
    public override ITrainingObjective Objective => objective;

    /// <inheritdoc/>
    public override string ModelConfigJson => RunConfig.Model.ToJson();

    /// <inheritdoc/>
    public override IEnumerable<string> Describe()
    {
        var m = RunConfig.Model;
        var t = RunConfig.Training;
        var d = RunConfig.Data;
        long tokens = data.Train.Sum(s => s.Sum(x => (long)x.Length));
        string noise = $"infilling {d.MaskRatio:P0} (Poisson λ {d.PoissonLambda})" + (d.PermuteSentences ? ", sentence permutation" : "") + (d.DeleteRatio > 0 ? $", deletion {d.DeleteRatio:P0}" : "");
        yield return $"data      {DataDirectory} ({data.Train.Length:N0} train sequences, {tokens:N0} tokens, byte-level BPE of {data.Tokenizer.VocabSize}; {noise})";
        yield return $"model     BART{(m.PreLayerNorm ? " (pre-LN)" : "")}, {m.EncoderLayers}+{m.DecoderLayers} layers, {m.EncoderAttentionHeads} heads, d_model {m.DModel}, ffn {m.EncoderFfnDim}: {Model.ParameterCount():N0} parameters";
        yield return $"training  {t.MaxSteps} steps of {t.BatchSize * t.GradientAccumulationSteps} sequences of up to {d.MaxSeqLength} tokens, lr {t.LearningRate} -> {t.MinLr}";
    }

    private protected override void DisposeData() => Model.Dispose();
}
