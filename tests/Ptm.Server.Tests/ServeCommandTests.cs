namespace Ptm.Server.Tests;

/// <summary><c>ptm serve</c>'s refusals, in process: they name the flag and exit 1 before anything listens.</summary>
[Collection("server")]
public class ServeCommandTests(ServingFixture f)
{
    static (int Code, string Error) Run(params string[] args)
    {
        var error = new StringWriter();
        var old = Console.Error;
        Console.SetError(error);
        try { return (Ptm.Cli.Program.Main(args), error.ToString()); }
        finally { Console.SetError(old); }
    }

    [Fact]
    public void NonLoopbackHostWithoutKeyIsRefused()
    {
        var (code, error) = Run("serve", "--model", f.GptDir, "--host", "0.0.0.0", "--port", "0");
        Assert.Equal(1, code);
        Assert.Contains("--host is not a loopback address (0.0.0.0)", error);
    }

    [Fact]
    public void BadLimitsAndNamesAreRefused()
    {
        Assert.Contains("--max-tokens must be at least 1", Run("serve", "--model", f.GptDir, "--port", "0", "--max-tokens", "0").Error);
        Assert.Contains("--max-batch-size must be at least 1", Run("serve", "--model", f.GptDir, "--port", "0", "--max-batch-size", "0").Error);
        Assert.Contains("2 --name for 1 --model", Run("serve", "--model", f.GptDir, "--name", "a", "--name", "b").Error);
        Assert.Contains("names must be letters, digits", Run("serve", "--model", f.GptDir, "--name", "a/b", "--port", "0").Error);
    }
}
