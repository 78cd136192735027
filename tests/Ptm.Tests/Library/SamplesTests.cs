using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Ptm.Generation;
using Ptm.Tests.Data;

namespace Ptm.Tests.Library;

/// <summary>
/// Runs every program under samples/ (built beside the tests by the project's glob reference) on a fixture model, as
/// samples/README.md describes, and checks what it prints against the library's own answer, so the samples cannot rot.
/// </summary>
public class SamplesTests(LibraryTestModels models) : IClassFixture<LibraryTestModels>
{
    sealed record SampleSpec(string Fixture, string[] Args);

    static string SamplesRoot => Path.Combine(DataFixtures.FindRepoRoot(), "samples");

    public static TheoryData<string> Samples()
    {
        var data = new TheoryData<string>();
        foreach (string dir in Directory.GetDirectories(SamplesRoot).Order(StringComparer.Ordinal))
            if (Directory.GetFiles(dir, "*.csproj").Length > 0) data.Add(Path.GetFileName(dir));
        return data;
    }

    static SampleSpec Spec(string name)
    {
        string path = Path.Combine(SamplesRoot, name, "sample.json");
        Assert.True(File.Exists(path), $"{path}: every sample says which fixture it runs on (samples/README.md)");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var args = doc.RootElement.TryGetProperty("args", out var a) ? a.EnumerateArray().Select(x => x.GetString()!).ToArray() : [];
        return new SampleSpec(doc.RootElement.GetProperty("fixture").GetString()!, args);
    }

    string FixturePath(string fixture) => fixture switch
    {
        "gpt" => models.GptDir,
        "bert" => models.BertDir,
        "classifier" => models.ClassifierDir,
        _ => throw new InvalidOperationException($"unknown fixture \"{fixture}\" (samples/README.md lists them)"),
    };

    (int ExitCode, string Out, string Err) Run(string name, SampleSpec spec)
    {
        string exe = Path.Combine(AppContext.BaseDirectory, $"Ptm.Sample.{name}" + (OperatingSystem.IsWindows() ? ".exe" : ""));
        Assert.True(File.Exists(exe), $"{exe}: not built; a sample is a samples/<name>/<name>.csproj");
        string work = Path.Combine(models.Root, "sample-" + name + "-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(work);
        var args = new List<string>();
        if (spec.Fixture != "none") args.Add(FixturePath(spec.Fixture));
        args.AddRange(spec.Args.Select(a => a.Replace("{work}", work)));
        var start = new ProcessStartInfo(exe, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = work };
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout, stderr.Result);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void SampleRunsAndPrintsWhatTheLibraryComputes(string name)
    {
        var spec = Spec(name);
        var (code, output, error) = Run(name, spec);
        Assert.True(code == 0, $"{name} exited {code}: {error}");
        Assert.False(string.IsNullOrWhiteSpace(output), $"{name} printed nothing");
        switch (name)
        {
            case "generate": CheckGenerate(spec, output); break;
            case "score": CheckScore(spec, output); break;
            case "embed-similarity": CheckEmbedSimilarity(spec, output); break;
            case "pretrain-tiny-gpt": CheckPretrainTinyGpt(output); break;
            case "finetune-classifier": CheckFinetuneClassifier(output); break;
        }
    }

    void CheckGenerate(SampleSpec spec, string output)
    {
        using var model = LoadedModel.Load(models.GptDir);
        string prompt = spec.Args[0];
        string continuation = model.Generate(prompt, new GenerationOptions { MaxNewTokens = 40, Temperature = 0.8, TopK = 50, Seed = 42 });
        Assert.NotEmpty(continuation);
        Assert.Equal(prompt + continuation + "\n", output.Replace("\r\n", "\n"));
        // Seeded: a second run prints the same text.
        Assert.Equal(output, Run("generate", spec).Out);
    }

    void CheckScore(SampleSpec spec, string output)
    {
        using var model = LoadedModel.Load(models.GptDir);
        var score = model.Score(spec.Args[0]);
        var lines = output.TrimEnd('\n').Split('\n');
        Assert.Equal(score.TokenLogProbabilities.Count + 1, lines.Length);
        for (int i = 0; i < score.TokenLogProbabilities.Count; i++)
            Assert.Equal(score.TokenLogProbabilities[i].LogProbability, double.Parse(lines[i][..10], CultureInfo.InvariantCulture), 4);
        string total = lines[^1].Split(' ')[1];
        Assert.True(double.IsFinite(score.TotalLogProbability) && score.TotalLogProbability < 0);
        Assert.Equal(score.TotalLogProbability, double.Parse(total, CultureInfo.InvariantCulture));
    }

    void CheckEmbedSimilarity(SampleSpec spec, string output)
    {
        using var model = LoadedModel.Load(models.BertDir);
        string query = spec.Args[0];
        var expected = spec.Args[1..].Select(s => (Sentence: s, Similarity: model.Similarity(query, s))).OrderByDescending(x => x.Similarity).ToList();
        var lines = output.TrimEnd('\n').Split('\n').Select(l => l.Split('\t')).ToList();
        Assert.Equal(expected.Count, lines.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Sentence, lines[i][1]);
            Assert.Equal(expected[i].Similarity, double.Parse(lines[i][0], CultureInfo.InvariantCulture));
            Assert.InRange(expected[i].Similarity, -1, 1);
        }
    }

    /// <summary>Steps 1, 10, …, 40 whose loss falls well below the first (a character vocabulary of ~30 symbols starts near
    /// ln 30 ≈ 3.4), a finite validation loss, and a continuation of the prompt.</summary>
    static void CheckPretrainTinyGpt(string output)
    {
        var lines = output.Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
        var losses = lines.Where(l => l.StartsWith("step ")).Select(l => double.Parse(l.Split("loss ")[1], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(5, losses.Count);
        Assert.True(losses[^1] < losses[0] - 1.0, $"loss did not fall: {losses[0]} -> {losses[^1]}");
        var validation = lines.Single(l => l.StartsWith("validation loss "));
        Assert.True(double.IsFinite(double.Parse(validation["validation loss ".Length..], CultureInfo.InvariantCulture)));
        Assert.StartsWith("And God", lines[^1]);
        Assert.True(lines[^1].Length > "And God".Length, "no text was generated");
    }

    /// <summary>A best validation accuracy in [0, 1] and one prediction with its probability per test sentence.</summary>
    static void CheckFinetuneClassifier(string output)
    {
        var lines = output.Replace("\r\n", "\n").TrimEnd('\n').Split('\n');
        var best = lines.Single(l => l.StartsWith("best validation "));
        Assert.InRange(double.Parse(best.Split(' ')[3], CultureInfo.InvariantCulture), 0, 1);
        var predictions = lines.Where(l => l.Contains(" -> ")).ToList();
        Assert.Equal(2, predictions.Count);
        Assert.All(predictions, l => Assert.Matches(@" -> (light|dark) \(\d+\s?%\)$", l));
    }

    /// <summary>docs/library.md quotes every sample whole (less comments and using directives), so the quoted code is
    /// code the tests build and run.</summary>
    [Theory]
    [MemberData(nameof(Samples))]
    public void LibraryDocQuotesTheSampleAsItIs(string name)
    {
        string root = DataFixtures.FindRepoRoot();
        string doc = File.ReadAllText(Path.Combine(root, "docs", "library.md")).Replace("\r\n", "\n");
        var lines = File.ReadAllLines(Path.Combine(SamplesRoot, name, "Program.cs"))
            .Where(l => !l.StartsWith("//", StringComparison.Ordinal) && !System.Text.RegularExpressions.Regex.IsMatch(l, @"^using [A-Za-z.]+;$"));
        string body = string.Join("\n", lines).Trim();
        Assert.True(doc.Contains(body, StringComparison.Ordinal), $"docs/library.md does not quote samples/{name}/Program.cs as it is");
    }
}
