using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ptm.Evaluation;
using Ptm.FineTuning;
using Ptm.IO;
using Ptm.Training;

namespace Ptm.Cli.Commands;

/// <summary>The seq2seq paths of `ptm finetune`, `ptm predict` and `ptm evaluate`: thin calls into
/// <see cref="Seq2SeqRun"/>, <see cref="LoadedModel.Translate(IReadOnlyList{string}, Seq2SeqDecodingOptions?)"/> and
/// <see cref="Seq2SeqScore"/>.</summary>
static class Seq2SeqCommands
{
    static readonly JsonSerializerOptions Compact = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Whether <paramref name="modelPath"/> (a model or run folder) holds an encoder–decoder model. Unreadable
    /// folders answer false, so the command's usual path reports them.</summary>
    public static bool IsSeq2SeqModel(string modelPath)
    {
        try { return ModelFolder.Family(Checkpoints.ResolveModelDirectory(modelPath)) == ModelFamily.Bart; }
        catch (InvalidInputException) { return false; }
    }

    /// <summary>The decoding flags shared by predict and evaluate.</summary>
    public sealed record DecodingFlags(BeamOptions Beam, Option<int> MaxNewTokens, Option<int?> MaxSourceLength)
    {
        public static DecodingFlags AddTo(Command command)
        {
            var flags = new DecodingFlags(BeamOptions.Create(),
                new Option<int>("--max-new-tokens") { Description = "seq2seq: most target tokens written per source, the end token included", DefaultValueFactory = _ => 128 },
                new Option<int?>("--max-source-length") { Description = "seq2seq: longest source in tokens (default: the model's max_position_embeddings); longer sources are cut" });
            flags.Beam.AddTo(command);
            command.Options.Add(flags.MaxNewTokens);
            command.Options.Add(flags.MaxSourceLength);
            return flags;
        }

        public Seq2SeqDecodingOptions Options(ParseResult r, int batchSize)
        {
            int maxNew = r.GetValue(MaxNewTokens);
            var options = new Seq2SeqDecodingOptions
            {
                MaxNewTokens = maxNew, MaxSourceLength = r.GetValue(MaxSourceLength), BatchSize = batchSize,
                Beam = Beam.Options(r, maxNew),
            };
            options.Validate();
            return options;
        }

        /// <summary>Refuses decoding flags on a model that is not an encoder–decoder (they would be ignored).</summary>
        public void RefuseFor(ParseResult r, string modelPath)
        {
            if (r.GetValue(Beam.NumBeams) != 1 || r.GetValue(MaxSourceLength) is not null)
                throw new InvalidInputException($"{modelPath}: --num-beams and --max-source-length apply to encoder-decoder (seq2seq) models only");
        }
    }

    /// <summary>`ptm finetune --task seq2seq`.</summary>
    public static int Finetune(string modelPath, string trainPath, string? validationPath, double validationSplit, string runDir, bool force,
        Seq2SeqTrainingOptions options, bool fromScratch)
    {
        if (!force && Directory.Exists(runDir) && Directory.EnumerateFileSystemEntries(runDir).Any())
            throw new InvalidInputException($"{runDir}: already exists; use --force to replace it");
        var train = TaskFile.ReadSeq2Seq(trainPath);
        IReadOnlyList<Seq2SeqExample> validation;
        if (validationPath is not null) validation = TaskFile.ReadSeq2Seq(validationPath);
        else (train, validation) = Seq2SeqRun.Split(train, validationSplit, options.Seed);
        Console.WriteLine($"run       {runDir}");
        var result = Seq2SeqRun.Run(modelPath, train, validation, options, runDir, fromScratch, replace: force,
            onStart: parameters =>
            {
                Console.WriteLine($"model     encoder-decoder from {modelPath}{(fromScratch ? " (weights re-initialised from --seed: trained from scratch)" : "")}: {parameters:N0} parameters");
                Console.WriteLine($"task      seq2seq: {train.Count} train, {validation.Count} validation pairs (columns source, target)");
                Console.WriteLine(FormattableString.Invariant($"training  {options.Epochs} epochs, batch {options.BatchSize}, lr {options.LearningRate}, weight decay {options.WeightDecay}, label smoothing {options.LabelSmoothing}, seed {options.Seed}"));
            },
            onEpoch: e => Console.WriteLine(FormattableString.Invariant($"epoch {e.Epoch,3}  train loss {e.TrainLoss:F4}  val loss {e.ValidationLoss:F4}{Bleu(e.ValidationBleu)}")));
        var best = result.Training.Epochs[result.Training.BestEpoch - 1];
        if (result.Training.Average is { } a)
            Console.WriteLine(FormattableString.Invariant($"average   epochs {a.FirstEpoch}-{a.LastEpoch}: val loss {a.ValidationLoss:F4}{Bleu(a.ValidationBleu)}{(a.Kept ? $", kept in {result.ModelDirectory} (--model {runDir} uses it)" : ", not kept")}"));
        if (result.Training.Average is not { Kept: true })
            Console.WriteLine(FormattableString.Invariant($"best      epoch {best.Epoch}: val loss {best.ValidationLoss:F4}{Bleu(best.ValidationBleu)}, kept in {result.ModelDirectory} (--model {runDir} uses it)"));
        return 0;
    }

    static string Bleu(double? bleu) => bleu is { } b ? FormattableString.Invariant($"  val BLEU {b:F2}") : "";

    /// <summary>`ptm predict` on an encoder–decoder model: one target per source, as text lines or (for a .jsonl
    /// output) JSON objects with the line, source, prediction and, when the file has one, the gold target.</summary>
    public static int Predict(string modelPath, string inputPath, string outputPath, Seq2SeqDecodingOptions decoding)
    {
        var examples = TaskFile.ReadSeq2Seq(inputPath, requireTarget: false);
        using var model = LoadedModel.Load(modelPath);
        var predictions = model.Translate(examples.Select(e => e.Source).ToList(), decoding);
        var sb = new StringBuilder();
        bool jsonl = Path.GetExtension(outputPath).Equals(".jsonl", StringComparison.OrdinalIgnoreCase);
        for (int i = 0; i < examples.Count; i++)
        {
            if (!jsonl) { sb.Append(predictions[i].ReplaceLineEndings(" ")).Append('\n'); continue; }
            var record = new Dictionary<string, object?> { ["line"] = examples[i].Line, ["source"] = examples[i].Source, ["prediction"] = predictions[i] };
            if (examples[i].Target is { } gold) record["gold"] = gold;
            sb.Append(JsonSerializer.Serialize(record, Compact)).Append('\n');
        }
        AtomicFile.WriteAllText(outputPath, sb.ToString());
        Console.WriteLine($"decoding  {decoding.Describe()}");
        Console.WriteLine($"{predictions.Count} predictions written to {outputPath}");
        return 0;
    }

    /// <summary>`ptm evaluate` on an encoder–decoder model: corpus BLEU (sacreBLEU's 13a defaults) and chrF of its
    /// targets against the file's, printed and written as JSON with the decoding settings.</summary>
    public static int Evaluate(string modelPath, string inputPath, string? outputPath, Seq2SeqDecodingOptions decoding)
    {
        var examples = TaskFile.ReadSeq2Seq(inputPath);
        using var model = LoadedModel.Load(modelPath);
        var predictions = model.Translate(examples.Select(e => e.Source).ToList(), decoding);
        var score = Seq2SeqScore.Of(predictions, examples);
        var b = score.Bleu;
        string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        Console.WriteLine($"examples  {examples.Count}");
        Console.WriteLine($"decoding  {decoding.Describe()}");
        Console.WriteLine(Inv($"BLEU      {b.Score:F2}  {string.Join("/", b.Precisions.Select(p => p.ToString("F1", CultureInfo.InvariantCulture)))} (BP = {b.BrevityPenalty:F3}, hyp_len = {b.HypothesisLength}, ref_len = {b.ReferenceLength}; nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp)"));
        Console.WriteLine(Inv($"chrF      {score.ChrF:F2}  (chrF2: character 6-grams, β = 2)"));
        var d = decoding.Beam;
        var json = new Dictionary<string, object?>
        {
            ["file"] = inputPath, ["task"] = "seq2seq", ["examples"] = examples.Count, ["bleu"] = b.Score, ["chrf"] = score.ChrF,
            ["bleu_precisions"] = b.Precisions, ["brevity_penalty"] = b.BrevityPenalty, ["hyp_len"] = b.HypothesisLength, ["ref_len"] = b.ReferenceLength,
            ["decoding"] = new Dictionary<string, object?>
            {
                ["strategy"] = d is null ? "greedy" : "beam", ["max_new_tokens"] = decoding.MaxNewTokens, ["max_source_length"] = decoding.MaxSourceLength,
                ["num_beams"] = d?.NumBeams ?? 1, ["length_penalty"] = d?.LengthPenalty, ["no_repeat_ngram_size"] = d?.NoRepeatNgramSize,
                ["early_stopping"] = d is null ? null : d.EarlyStopping switch { Generation.BeamStopping.Early => "true", Generation.BeamStopping.Never => "never", _ => "false" },
            },
        };
        string outPath = outputPath ?? inputPath + ".metrics.json";
        AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(json, JsonFiles.Indented));
        Console.WriteLine($"metrics written to {outPath}");
        return 0;
    }
}
