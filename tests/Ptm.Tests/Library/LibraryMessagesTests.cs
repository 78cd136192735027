using System.Text.RegularExpressions;
using Ptm.Cli.Commands;
using Ptm.Embeddings;
using Ptm.Generation;
using Ptm.Tests.Cli;
using Ptm.Tests.Data;

namespace Ptm.Tests.Library;

/// <summary>
/// The library's messages name properties and files, never a shell's flags; the ptm command maps option properties
/// back to its flags, so its users still read "--top-p".
/// </summary>
public class LibraryMessagesTests(LibraryTestModels models) : IClassFixture<LibraryTestModels>
{
    // A string literal (regular, verbatim or interpolated) on a line that creates an exception.
    static readonly Regex ExceptionLine = new(@"(throw new|Exception\(|: base\()", RegexOptions.Compiled);
    static readonly Regex Literal = new(@"\$?@?""(?:[^""\\]|\\.)*""", RegexOptions.Compiled);
    static readonly Regex FlagOrCommand = new(@"(?<![\w-])--[a-z]|\bptm (prepare|pretrain|finetune|generate|score|convert|export)\b|this command", RegexOptions.Compiled);

    static IEnumerable<(string File, int Line, string Text)> FlagMessages()
    {
        string src = Path.Combine(DataFixtures.FindRepoRoot(), "src", "Ptm");
        foreach (string file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")) continue;
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                string line = lines[i].TrimStart();
                if (line.StartsWith("//", StringComparison.Ordinal) || !ExceptionLine.IsMatch(line)) continue;
                // An exception's message may continue on the next line(s) of the same statement.
                string statement = string.Join(" ", lines.Skip(i).Take(3).TakeWhile((l, k) => k == 0 || !lines[i + k - 1].TrimEnd().EndsWith(';')));
                foreach (Match m in Literal.Matches(statement))
                    if (FlagOrCommand.IsMatch(m.Value))
                        yield return (Path.GetRelativePath(src, file).Replace('\\', '/'), i + 1, m.Value);
            }
        }
    }

    [Fact]
    public void NoLibraryExceptionMessageNamesACommandLineFlag()
    {
        var offending = FlagMessages().Select(h => $"src/Ptm/{h.File}:{h.Line}: {h.Text}").Distinct().ToList();
        Assert.True(offending.Count == 0, "library messages naming flags or commands:\n" + string.Join("\n", offending));
    }

    [Fact]
    public void TheScanFindsAFlagInAnExceptionMessage()
    {
        // The scanner itself: a flag in a thrown message is caught, in a comment or a non-exception line it is not.
        Assert.Matches(ExceptionLine, """throw new InvalidInputException($"--top-p must be in (0, 1] (got {x})");""");
        Assert.Contains(Literal.Matches("""throw new InvalidInputException($"--top-p must be in (0, 1]");"""), m => FlagOrCommand.IsMatch(m.Value));
        Assert.DoesNotContain(Literal.Matches("""throw new InvalidInputException("a--b and x -- y");"""), m => FlagOrCommand.IsMatch(m.Value));
    }

    [Fact]
    public void OptionMessagesNamePropertiesInTheLibrary()
    {
        Assert.Equal("GenerationOptions.TopK must be >= 0 (got -1)",
            Assert.Throws<InvalidOptionException>(() => new GenerationOptions { TopK = -1 }.Validate()).Message);
        Assert.Equal("FillMaskOptions.TopK must be positive (got 0)",
            Assert.Throws<InvalidOptionException>(() => new FillMaskOptions { TopK = 0 }.Validate()).Message);
        var layers = Assert.Throws<InvalidOptionException>(() => new EmbeddingOptions { Layers = [7] }.ResolveLayers(2));
        Assert.Equal("EmbeddingOptions.Layers must name layers of this model (-2..-1, or 0..2 with 0 the embeddings) (got 7)", layers.Message);
    }

    [Fact]
    public void EveryMappedPropertyExists()
    {
        // The CLI's table must not drift from the library's names.
        var types = typeof(InvalidInputException).Assembly.GetExportedTypes();
        foreach (string key in CommandErrors.Flags.Keys)
        {
            string[] parts = key.Split('.');
            var type = Assert.Single(types, t => t.Name == parts[0]);
            Assert.NotNull(type.GetProperty(parts[1]));
        }
    }

    [Fact]
    public void Cli_Generate_NamesTheFlag()
    {
        var r = CliHarness.Run("generate", "--model", models.GptDir, "--prompt", "And", "--temperature", "-1");
        CliHarness.AssertOneLineError(r, "--temperature must be a finite number >= 0 (got -1)");
        Assert.DoesNotContain("GenerationOptions", r.Err);
    }

    [Fact]
    public void Cli_FillMask_NamesTheFlag()
    {
        var r = CliHarness.Run("fill-mask", "--model", models.BertDir, "--top-k", "0", "the [MASK] day");
        CliHarness.AssertOneLineError(r, "--top-k must be positive (got 0)");
    }

    [Fact]
    public void Cli_Embed_NamesTheFlag()
    {
        string sentences = Path.Combine(models.Root, "sentences-" + Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllText(sentences, "the first day\nthe darkness\n");
        var r = CliHarness.Run("similar", "--model", models.BertDir, "--file", sentences, "--query", "day", "--layers", "9");
        CliHarness.AssertOneLineError(r, "--layers must name layers of this model", "(got 9)");
    }

    [Fact]
    public void Cli_WrongFamilyIsOneLine()
    {
        var r = CliHarness.Run("score", "--model", models.BertDir, "--file", Path.Combine(models.BertDir, "vocab.txt"));
        CliHarness.AssertOneLineError(r, "needs a GPT language model", "bert");
    }

    [Fact]
    public void Cli_Convert_PointsAtTheAllowMissingFlag()
    {
        using var scratch = new Ptm.Tests.HuggingFace.HfFixtures.Scratch();
        string dir = Ptm.Tests.HuggingFace.HfFixtures.Variant(Ptm.Tests.HuggingFace.HfFixtures.Bert, scratch["v"],
            t => Ptm.Tests.HuggingFace.HfFixtures.Rename(t, k => k.StartsWith("cls.") ? null : k));
        var library = Assert.Throws<InvalidInputException>(() => LoadedModel.Load(dir));
        Assert.Contains("HfLoadOptions.AllowMissing initialises them fresh", library.Message);
        var r = CliHarness.Run("convert", "--from", dir, "--to", scratch["out"]);
        CliHarness.AssertOneLineError(r, "(--allow-missing initialises them fresh)");
        Assert.DoesNotContain("HfLoadOptions", r.Err);
    }

    [Fact]
    public void Cli_MessagesThatPointAtASettingNameItsFlag()
    {
        var e = new InvalidInputException("model.safetensors: 2 tensor(s) missing (HfLoadOptions.AllowMissing initialises them fresh)");
        Assert.Equal("model.safetensors: 2 tensor(s) missing (--allow-missing initialises them fresh)", CommandErrors.Message(e));
    }
}
