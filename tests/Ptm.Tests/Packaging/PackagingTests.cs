using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using Ptm.Kernels;
using Ptm.Tests.Data;
using Ptm.Tests.Kernels;

namespace Ptm.Tests.Packaging;

/// <summary>
/// `dotnet pack` as docs/packaging.md describes it: the Ptm package and the ptm tool go into a folder feed, the tool
/// is installed from it into a temporary tool path and runs from a folder outside the repository (its default config
/// and corpus travel with it), and a console project outside the repository that references the package builds,
/// trains a tiny GPT, generates with it, and shows that the package's natives loaded.
/// </summary>
[Collection(ReleaseBuildCollection.Name)]
public sealed class PackagingTests : IDisposable
{
    static readonly string Root = DataFixtures.FindRepoRoot();
    readonly string temp = Path.Combine(Path.GetTempPath(), "ptm-packaging-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The version every project builds with (Directory.Build.props), as the Ptm assembly records it.</summary>
    static string Version => typeof(TorchRuntime).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!
        .InformationalVersion.Split('+')[0];

    [SkippableFact]
    public void PackedToolAndLibraryInstallFromAFolderFeedAndRun()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the package's natives are built for linux-x64");
        string feed = Dir("feed"), tools = Dir("tools"), work = Dir("work"), consumer = Dir("consumer");
        string version = Version;

        Dotnet(Root, "pack", "src/Ptm/Ptm.csproj", "-c", "Release", "-o", feed, "-nologo", "-v", "quiet");
        Dotnet(Root, "pack", "src/Ptm.Cli/Ptm.Cli.csproj", "-c", "Release", "-o", feed, "-nologo", "-v", "quiet");
        Assert.True(File.Exists(Path.Combine(feed, $"Ptm.{version}.nupkg")), $"no Ptm.{version}.nupkg in {feed}");
        Assert.True(File.Exists(Path.Combine(feed, $"Ptm.Cli.{version}.nupkg")), $"no Ptm.Cli.{version}.nupkg in {feed}");

        // Restores and installs go through a package folder of their own, so an earlier package of the same version
        // in the user's cache cannot stand in for the one just packed; the user's cache still serves TorchSharp.
        string config = NuGetConfig(feed);

        Dotnet(work, "tool", "install", "--tool-path", tools, "--add-source", feed, "--configfile", config, "Ptm.Cli", "--version", version);
        string ptm = Path.Combine(tools, "ptm");
        Assert.True(File.Exists(ptm), $"dotnet tool install left no {ptm}");

        var (_, versionOut) = Run(ptm, work, TimeSpan.FromMinutes(2), "--version");
        Assert.Equal(version, versionOut.Trim().Split('+')[0]);

        // Default config (configs/gpt-kjv.json) and corpus (data/kjv) from the tool's own folder: no --config, no --data.
        string run = Path.Combine(work, "run");
        var (_, trainOut) = Run(ptm, work, TimeSpan.FromMinutes(4), "pretrain", "gpt", "--max-steps", "2", "--batch-size", "2",
            "--set", "model.n_layer=1", "--set", "model.n_embd=32", "--set", "model.n_head=2", "--set", "model.n_positions=32",
            "--set", "training.block_size=32", "--set", "tokenizer.kind=char", "--set", "training.eval_interval=2",
            "--set", "training.eval_iters=1", "--set", "training.warmup_steps=1", "--samples", "1", "--out", run, "--threads", "2");
        Assert.True(File.Exists(Path.Combine(run, "run.json")), $"pretrain wrote no {run}/run.json:\n{trainOut}");
        Assert.Contains("step", trainOut);
        var (_, genOut) = Run(ptm, work, TimeSpan.FromMinutes(2), "generate", "--model", run, "--prompt", "And God", "--max-new-tokens", "5", "--seed", "1");
        Assert.StartsWith("And God", genOut.TrimStart());

        // A program outside the repository that references the package.
        File.WriteAllText(Path.Combine(consumer, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Ptm" Version="{version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(consumer, "Program.cs"), ConsumerProgram);
        File.Copy(config, Path.Combine(consumer, "nuget.config"));
        Dotnet(consumer, "build", "-c", "Release", "-nologo", "-v", "quiet");
        string dll = Path.Combine(consumer, "bin", "Release", "net10.0", "Consumer.dll");
        var (_, consumerOut) = Run("dotnet", consumer, TimeSpan.FromMinutes(3), dll);

        var lines = consumerOut.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["step 1", "step 2"], lines.Where(l => l.StartsWith("step ")).Select(l => Regex.Replace(l, @"\s+loss.*", "")).ToArray());
        Assert.All(lines.Where(l => l.StartsWith("step ")), l => Assert.Matches(@"loss \d+\.\d{4}$", l));
        string tokens = Assert.Single(lines, l => l.StartsWith("tokens "));
        Assert.Equal("tokens 12", tokens);
        Assert.Single(lines, l => l.StartsWith("text And God") && l.Length > "text And God".Length);
        // The package's natives: the MKL shim and the fused kernels load; the libstdc++ shim is carried and loaded.
        Assert.Contains("mkl-fix True", lines);
        Assert.Contains("kernels True", lines);
        Assert.Contains("glibcxx-shim True", lines);
        string native = Path.Combine(consumer, "bin", "Release", "net10.0", "runtimes", "linux-x64", "native");
        foreach (string lib in new[] { "libptm_glibcxx_shim.so", "libptm_mkl_cpu.so", "libptm_kernels.so", "libLibTorchSharp.so" })
            Assert.True(File.Exists(Path.Combine(native, lib)), $"{lib} missing from the consumer's {native}");
        Assert.False(Directory.Exists(Path.Combine(consumer, "bin", "Release", "net10.0", "cpu")), "TorchSharp's load fallback ran in the consumer");
    }

    const string ConsumerProgram = """
        using Ptm.Generation;
        using Ptm.Kernels;
        using Ptm.Modeling;
        using Ptm.Training;

        string text = string.Join("\n\n", Enumerable.Repeat(
            "In the beginning God created the heaven and the earth.\nAnd God said, Let there be light: and there was light.", 8));
        var options = new GptPretrainingOptions
        {
            Model = new GptConfig { NPositions = 32, NEmbd = 32, NLayer = 1, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 },
            Tokenizer = new TokenizerSpec { Kind = "char" },
            Training = new TrainingConfig { MaxSteps = 2, BatchSize = 4, BlockSize = 32, LearningRate = 1e-2, MinLr = 1e-3, WarmupSteps = 1, EvalInterval = 2, EvalIters = 1, Seed = 1 },
        };
        using var run = Pretraining.Gpt(PretrainingCorpus.FromText(text), options);
        run.Trainer.StepCompleted += r => Console.WriteLine($"step {r.Step}  loss {r.Loss:F4}");
        run.Train();
        var pieces = new TextGenerator(run.Model, run.Tokenizer)
            .Generate("And God", new GenerationOptions { MaxNewTokens = 12, TopK = 1, Seed = 1 }).ToList();
        Console.WriteLine($"tokens {pieces.Count}");
        Console.WriteLine("text And God" + string.Concat(pieces).Replace("\n", " "));
        Console.WriteLine($"mkl-fix {TorchRuntime.MklCpuFixLoaded}");
        Console.WriteLine($"kernels {FusedKernels.LibraryLoaded}");
        Console.WriteLine($"glibcxx-shim {TorchRuntime.GlibcxxShimLoaded}");
        """;

    string Dir(string name) => Directory.CreateDirectory(Path.Combine(temp, name)).FullName;

    string NuGetConfig(string feed)
    {
        string userPackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string path = Path.Combine(temp, "nuget.config");
        File.WriteAllText(path, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <config><add key="globalPackagesFolder" value="{Path.Combine(temp, "packages")}" /></config>
              <packageSources><add key="ptm-feed" value="{feed}" /></packageSources>
              <fallbackPackageFolders><add key="user" value="{userPackages}" /></fallbackPackageFolders>
            </configuration>
            """);
        return path;
    }

    static void Dotnet(string folder, params string[] args) => Run("dotnet", folder, TimeSpan.FromMinutes(6), args);

    static (int Code, string Out) Run(string file, string folder, TimeSpan limit, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = folder };
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} ran past {limit}");
        }
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} (in {folder}) exited {p.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
        return (p.ExitCode, stdout.Result);
    }
}
