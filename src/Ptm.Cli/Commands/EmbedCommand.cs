using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Ptm.Data;
using Ptm.Embeddings;
using Ptm.IO;

namespace Ptm.Cli.Commands;

/// <summary>`ptm embed` (vectors to a file, or a word's senses compared) and `ptm similar` (rank sentences).</summary>
static class EmbedCommand
{
    sealed record Common(Option<string> Model, Option<string> Pooling, Option<string?> Layers, Option<bool> Mean, Option<int> Threads);

    static Common CommonOptionsFor(Command command)
    {
        var c = new Common(
            new Option<string>("--model") { Description = "BERT or ELMo model folder, or a run folder (its latest checkpoint)", Required = true },
            new Option<string>("--pooling") { Description = "sentence vector: cls or mean (of the sentence's own tokens)", DefaultValueFactory = _ => "mean" },
            new Option<string?>("--layers") { Description = "layers to use, comma-separated; -1 is the last, 0 the embedding output (default: BERT -1; ELMo all layers averaged)" },
            new Option<bool>("--mean-layers") { Description = "average the chosen layers instead of concatenating them" },
            CommonOptions.Threads());
        command.Options.Add(c.Model);
        command.Options.Add(c.Pooling);
        command.Options.Add(c.Layers);
        command.Options.Add(c.Mean);
        command.Options.Add(c.Threads);
        return c;
    }

    /// <summary>The model (the caller disposes it) and an embedder over it.</summary>
    static (ITextEmbedder Embedder, Pooling Pooling, LoadedModel Model) Open(ParseResult r, Common c)
    {
        CommonOptions.ApplyThreads(r.GetValue(c.Threads));
        var pooling = r.GetValue(c.Pooling) switch
        {
            "cls" => Pooling.Cls,
            "mean" => Pooling.Mean,
            var other => throw new InvalidInputException($"--pooling must be cls or mean (got \"{other}\")"),
        };
        var layers = r.GetValue(c.Layers)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(l => int.TryParse(l, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v : throw new InvalidInputException($"--layers: '{l}' is not an integer"))
            .ToArray();
        var loaded = LoadedModel.Load(r.GetValue(c.Model)!);
        // Without --layers each family takes its default (ELMo: every layer averaged, the scalar mix with equal weights).
        var options = layers is null && loaded.Elmo is not null ? null
            : new EmbeddingOptions { Layers = layers ?? [-1], ConcatLayers = !r.GetValue(c.Mean), Pooling = pooling };
        try { return (loaded.CreateTextEmbedder(options), pooling, loaded); }
        catch { loaded.Dispose(); throw; }
    }

    static IReadOnlyList<string> ReadSentences(string path)
    {
        var lines = TextSource.ReadText(path).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Trim().Length > 0).ToList();
        if (lines.Count == 0) throw new InvalidInputException($"{path}: no sentences (expected one per line)");
        return lines;
    }

    static IReadOnlyList<SentenceVectors> EmbedAll(ITextEmbedder embedder, IReadOnlyList<string> sentences, Pooling pooling)
    {
        var result = sentences.Select(s => embedder.Embed(s, pooling)).ToList();
        foreach (var v in result.Where(v => v.Truncated))
            Console.Error.WriteLine($"warning: truncated to the model's context: \"{(v.Text.Length > 60 ? v.Text[..57] + "..." : v.Text)}\"");
        return result;
    }

    public static Command CreateEmbed()
    {
        var command = new Command("embed", "Contextual sentence (and token) vectors from a BERT or ELMo, or how one word's vectors differ by context");
        var c = CommonOptionsFor(command);
        var file = new Option<string>("--file") { Description = "UTF-8 text, one sentence per line", Required = true };
        var output = new Option<string?>("--out") { Description = "JSONL file to write: one {text, vector[, tokens]} object per sentence" };
        var tokens = new Option<bool>("--tokens") { Description = "also write per-token vectors" };
        var word = new Option<string?>("--word") { Description = "compare this word's contextual vectors across the sentences that contain it" };
        command.Options.Add(file);
        command.Options.Add(output);
        command.Options.Add(tokens);
        command.Options.Add(word);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            string? outPath = r.GetValue(output);
            string? w = r.GetValue(word);
            if (outPath is null && w is null) throw new InvalidInputException("give --out FILE to write vectors, or --word WORD to compare a word across contexts");
            var (embedder, pooling, loaded) = Open(r, c);
            using var _ = loaded;
            var vectors = EmbedAll(embedder, ReadSentences(r.GetValue(file)!), pooling);
            if (outPath is not null)
            {
                bool withTokens = r.GetValue(tokens);
                AtomicFile.Write(outPath, stream =>
                {
                    using var writer = new StreamWriter(stream, leaveOpen: true);
                    foreach (var v in vectors)
                    {
                        var record = new Dictionary<string, object> { ["text"] = v.Text, ["vector"] = v.Sentence };
                        if (withTokens) record["tokens"] = v.Tokens.Select(t => new { token = t.Token, start = t.Start, end = t.End, vector = t.Vector });
                        writer.WriteLine(JsonSerializer.Serialize(record));
                    }
                });
                Console.WriteLine($"wrote {vectors.Count} sentence vectors of dimension {embedder.Dimension} to {outPath}");
            }
            if (w is not null) PrintWordComparison(w, vectors);
            return 0;
        }));
        return command;
    }

    /// <summary>Cosine similarity of one word's contextual vectors across sentences; a static table gives it one vector (similarity 1).</summary>
    static void PrintWordComparison(string word, IReadOnlyList<SentenceVectors> vectors)
    {
        var uses = vectors
            .Select(v => (v.Text, Token: v.Tokens.FirstOrDefault(t => string.Equals(v.Text[t.Start..t.End], word, StringComparison.OrdinalIgnoreCase))))
            .Where(u => u.Token is not null).ToList();
        if (uses.Count < 2) throw new InvalidInputException($"--word '{word}': needs at least two sentences where it is a single token (found {uses.Count})");
        Console.WriteLine($"contextual vectors of \"{word}\" (cosine similarity; a static embedding gives 1.000 for every pair):");
        for (int i = 0; i < uses.Count; i++)
            Console.WriteLine($"  [{i + 1}] {uses[i].Text}");
        Console.Write("     ");
        for (int j = 0; j < uses.Count; j++) Console.Write($"  [{j + 1}]  ");
        Console.WriteLine();
        for (int i = 0; i < uses.Count; i++)
        {
            Console.Write($"  [{i + 1}]");
            for (int j = 0; j < uses.Count; j++) Console.Write($" {VectorSimilarity.Cosine(uses[i].Token!.Vector, uses[j].Token!.Vector),6:F3}");
            Console.WriteLine();
        }
    }

    public static Command CreateSimilar()
    {
        var command = new Command("similar", "Rank sentences by cosine similarity of their contextual vectors to a query, or (with --vectors) words by their static vectors");
        var c = CommonOptionsFor(command);
        c.Model.Required = false;
        var file = new Option<string>("--file") { Description = "UTF-8 text, one sentence per line" };
        var query = new Option<string>("--query") { Description = "the sentence to compare against" };
        var top = new Option<int>("--top") { Description = "how many to print", DefaultValueFactory = _ => 5 };
        var vectors = new Option<string?>("--vectors") { Description = "static word vectors instead of a model: a word2vec file (.bin binary, else text) or a ptm pretrain word2vec/glove folder" };
        var word = new Option<string?>("--word") { Description = "with --vectors: the words nearest to this one" };
        var analogy = new Option<string[]>("--analogy") { Description = "with --vectors: A B C, the words that are to C as B is to A", AllowMultipleArgumentsPerToken = true };
        command.Options.Add(file);
        command.Options.Add(query);
        command.Options.Add(top);
        command.Options.Add(vectors);
        command.Options.Add(word);
        command.Options.Add(analogy);
        command.SetAction(r => CommandErrors.Run(() =>
        {
            if (r.GetValue(vectors) is string vectorPath)
                return StaticVectorsCommand.Similar(vectorPath, r.GetValue(word), r.GetValue(analogy), r.GetValue(top));
            if (r.GetValue(c.Model) is null || r.GetValue(file) is null || r.GetValue(query) is null)
                throw new InvalidInputException("give --model, --file and --query to rank sentences, or --vectors with --word or --analogy for static word vectors");
            var (embedder, pooling, loaded) = Open(r, c);
            using var _ = loaded;
            var sentences = EmbedAll(embedder, ReadSentences(r.GetValue(file)!), pooling);
            var q = embedder.Embed(r.GetValue(query)!, pooling);
            foreach (var (index, similarity) in VectorSimilarity.Rank(q.Sentence, sentences.Select(s => s.Sentence).ToList()).Take(Math.Max(1, r.GetValue(top))))
                Console.WriteLine($"{similarity,7:F4}  {sentences[index].Text}");
            return 0;
        }));
        return command;
    }
}
