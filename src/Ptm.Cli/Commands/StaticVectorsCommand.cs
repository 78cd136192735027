using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Ptm.IO;
using Ptm.StaticVectors;

namespace Ptm.Cli.Commands;

/// <summary>`ptm pretrain word2vec|glove` (static word vectors into a folder) and the static half of `ptm similar`.</summary>
static class StaticVectorsCommand
{
    /// <summary>The file `ptm similar --vectors FOLDER` reads from a run folder.</summary>
    public const string VectorsFile = "vectors.bin";

    static readonly string[] SampleWords = ["light", "god", "king", "water", "sword", "jerusalem"];

    sealed record Shared(Option<string?> Data, Option<string?> Out, Option<bool> Force, Option<int> MinCount, Option<int?> Dim,
        Option<int?> Window, Option<int?> Epochs, Option<double?> Lr, Option<ulong?> Seed);

    static Shared SharedOptions(Command command, string name)
    {
        var s = new Shared(
            new Option<string?>("--data") { Description = $"raw text: a folder with train.txt and validation.txt, a file, a folder or a glob (default {PretrainCommand.DefaultData}; the training split is used)" },
            new Option<string?>("--out") { Description = $"output folder for vectors.bin, vectors.txt and vocab.txt (default runs/{name}-<time>)" },
            new Option<bool>("--force") { Description = "overwrite the vector files in an existing --out folder" },
            new Option<int>("--min-count") { Description = "drop words seen fewer times", DefaultValueFactory = _ => 5 },
            new Option<int?>("--dim") { Description = "vector size" },
            new Option<int?>("--window") { Description = "context words on each side" },
            new Option<int?>("--epochs") { Description = "passes over the data" },
            new Option<double?>("--learning-rate") { Description = "starting learning rate" },
            new Option<ulong?>("--seed") { Description = "random seed (same seed, same vectors)" });
        foreach (var o in new Option[] { s.Data, s.Out, s.Force, s.MinCount, s.Dim, s.Window, s.Epochs, s.Lr, s.Seed }) command.Options.Add(o);
        return s;
    }

    /// <summary>`ptm pretrain word2vec`.</summary>
    public static Command CreateWord2Vec()
    {
        var command = new Command("word2vec", "Static word vectors: skip-gram with negative sampling, as Mikolov's word2vec tool");
        var s = SharedOptions(command, "word2vec");
        var negative = new Option<int?>("--negative") { Description = "noise words per context word (default 5)" };
        var sample = new Option<double?>("--sample") { Description = "subsampling threshold for frequent words (default 1e-3; 0 = off)" };
        command.Options.Add(negative);
        command.Options.Add(sample);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            var d = new Word2VecOptions();
            var options = d with
            {
                Dimension = r.GetValue(s.Dim) ?? d.Dimension, Window = r.GetValue(s.Window) ?? d.Window, Epochs = r.GetValue(s.Epochs) ?? d.Epochs,
                LearningRate = r.GetValue(s.Lr) ?? d.LearningRate, Seed = r.GetValue(s.Seed) ?? d.Seed,
                Negative = r.GetValue(negative) ?? d.Negative, Sample = r.GetValue(sample) ?? d.Sample,
            };
            InFlagTerms(options.Validate);
            return Train(r, s, "word2vec", $"skip-gram, negative sampling: dim {options.Dimension}, window {options.Window}, negative {options.Negative}, sample {options.Sample.ToString(CultureInfo.InvariantCulture)}, {options.Epochs} epochs, lr {options.LearningRate.ToString(CultureInfo.InvariantCulture)}",
                (corpus, progress) => Word2Vec.Train(corpus, options, progress));
        }));
        return command;
    }

    /// <summary>`ptm pretrain glove`.</summary>
    public static Command CreateGlove()
    {
        var command = new Command("glove", "Static word vectors: GloVe's weighted least squares on co-occurrence counts, with AdaGrad");
        var s = SharedOptions(command, "glove");
        var xMax = new Option<double?>("--x-max") { Description = "count where the weighting f(x) = (x/x_max)^alpha reaches 1 (default 10)" };
        var alpha = new Option<double?>("--alpha") { Description = "exponent of the weighting (default 0.75)" };
        command.Options.Add(xMax);
        command.Options.Add(alpha);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            var d = new GloveOptions();
            var options = d with
            {
                Dimension = r.GetValue(s.Dim) ?? d.Dimension, Window = r.GetValue(s.Window) ?? d.Window, Epochs = r.GetValue(s.Epochs) ?? d.Epochs,
                LearningRate = r.GetValue(s.Lr) ?? d.LearningRate, Seed = r.GetValue(s.Seed) ?? d.Seed,
                XMax = r.GetValue(xMax) ?? d.XMax, Alpha = r.GetValue(alpha) ?? d.Alpha,
            };
            InFlagTerms(options.Validate);
            return Train(r, s, "glove", $"GloVe: dim {options.Dimension}, window {options.Window}, x_max {options.XMax.ToString(CultureInfo.InvariantCulture)}, alpha {options.Alpha.ToString(CultureInfo.InvariantCulture)}, {options.Epochs} epochs, AdaGrad lr {options.LearningRate.ToString(CultureInfo.InvariantCulture)}",
                (corpus, progress) => Glove.Train(corpus, options, progress));
        }));
        return command;
    }

    /// <summary>Option property → the flag that sets it, for the options of these two commands.</summary>
    static readonly Dictionary<string, string> Flags = new(StringComparer.Ordinal)
    {
        ["Dimension"] = "--dim", ["Window"] = "--window", ["Epochs"] = "--epochs", ["LearningRate"] = "--learning-rate",
        ["Negative"] = "--negative", ["Sample"] = "--sample", ["XMax"] = "--x-max", ["Alpha"] = "--alpha", ["MinCount"] = "--min-count",
    };

    /// <summary>Runs <paramref name="action"/>, restating an option error in terms of this command's flag.</summary>
    static void InFlagTerms(Action action)
    {
        try { action(); }
        catch (InvalidOptionException e) when (Flags.ContainsKey(e.Property)) { throw new InvalidInputException(e.MessageFor(Flags[e.Property])); }
    }

    static int Train(ParseResult r, Shared s, string name, string describe, Func<WordCorpus, Action<StaticVectorProgress>, WordVectors> train)
    {
        string outDir = r.GetValue(s.Out) ?? Path.Combine("runs", $"{name}-{DateTime.Now:yyyyMMdd-HHmmss}");
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any() && !r.GetValue(s.Force))
            throw new InvalidInputException($"{outDir}: already exists; use --force to overwrite its vector files");
        var clock = Stopwatch.StartNew();
        WordCorpus corpus = null!;
        InFlagTerms(() => corpus = WordCorpus.FromSpec(r.GetValue(s.Data) ?? CommonOptions.Shipped(PretrainCommand.DefaultData), r.GetValue(s.MinCount)));
        Console.WriteLine($"run       {outDir}");
        Console.WriteLine($"corpus    {corpus.TokenCount:N0} words in {corpus.Sentences.Count:N0} lines, vocabulary {corpus.Words.Count:N0} (min count {r.GetValue(s.MinCount)}), read in {clock.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"model     {describe}");
        clock.Restart();
        var vectors = train(corpus, p => Console.WriteLine($"epoch {p.Epoch,3}  loss {p.MeanLoss:F4}  lr {p.LearningRate:G4}  {clock.Elapsed.TotalSeconds,6:F1} s"));
        Directory.CreateDirectory(outDir);
        vectors.Save(Path.Combine(outDir, VectorsFile), WordVectorFormat.Binary);
        vectors.Save(Path.Combine(outDir, "vectors.txt"), WordVectorFormat.Text);
        AtomicFile.WriteAllText(Path.Combine(outDir, "vocab.txt"),
            string.Concat(corpus.Words.Select((w, i) => $"{w} {corpus.Counts[i].ToString(CultureInfo.InvariantCulture)}\n")));
        Console.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F1} s; wrote {outDir}/{VectorsFile} and vectors.txt (word2vec formats), vocab.txt");
        Console.WriteLine();
        Console.WriteLine("nearest neighbours (cosine):");
        foreach (string w in SampleWords.Where(w => vectors.IdOf(w) >= 0))
            Console.WriteLine($"  {w,-10} {string.Join("  ", vectors.Nearest(w, 5).Select(n => $"{n.Word} {n.Similarity:F2}"))}");
        Console.WriteLine($"use: ptm similar --vectors {outDir} --word light   (or --analogy a b c)");
        return 0;
    }

    /// <summary>A vectors file, or a folder holding <see cref="VectorsFile"/>.</summary>
    public static WordVectors Open(string path) =>
        WordVectors.Load(Directory.Exists(path) ? Path.Combine(path, VectorsFile) : path);

    /// <summary>`ptm similar --vectors`: nearest words or an analogy.</summary>
    public static int Similar(string path, string? word, string[]? analogy, int top)
    {
        if ((word is null) == (analogy is null or { Length: 0 }))
            throw new InvalidInputException("with --vectors give exactly one of --word WORD or --analogy A B C");
        if (analogy is { Length: > 0 } && analogy.Length != 3)
            throw new InvalidInputException($"--analogy needs three words A B C (\"A is to B as C is to ?\"), got {analogy.Length}");
        var vectors = Open(path);
        var result = word is not null ? vectors.Nearest(word, Math.Max(1, top)) : vectors.Analogy(analogy![0], analogy[1], analogy[2], Math.Max(1, top));
        Console.WriteLine(word is not null ? $"nearest to \"{word}\":" : $"\"{analogy![0]}\" is to \"{analogy[1]}\" as \"{analogy[2]}\" is to:");
        foreach (var (w, sim) in result) Console.WriteLine($"{sim,7:F4}  {w}");
        return 0;
    }
}
