using System.Diagnostics;
using Ptm.Tests.Data;

namespace Ptm.Tests.Kernels;

/// <summary>Tests that build or pack the Release command line; they share its obj/ and bin/, so they never run at once.</summary>
[CollectionDefinition(Name)]
public sealed class ReleaseBuildCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Release build of Ptm.Cli";
}

/// <summary>
/// The `./ptm` wrapper and the native build steps (build/native/TorchSharpNative.targets): a build that finds the
/// native outputs up to date rewrites none of them, and concurrent `./ptm` calls, one of which has to build, all
/// start the program.
/// </summary>
[Collection(ReleaseBuildCollection.Name)]
public class NativeBuildTests
{
    static readonly string Root = DataFixtures.FindRepoRoot();
    static readonly string ReleaseDir = Path.Combine(Root, "src", "Ptm.Cli", "bin", "Release", "net10.0");
    static readonly string NativeDir = Path.Combine(ReleaseDir, "runtimes", "linux-x64", "native");
    static readonly string ObjNativeDir = Path.Combine(Root, "src", "Ptm.Cli", "obj", "ptm-native");

    [SkippableFact]
    public void ConcurrentPtmCallsThatMustBuildAllStartAndRewriteNoUpToDateNativeFile()
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "the native build steps and ./ptm are Linux-only");
        string ptm = Path.Combine(Root, "ptm");
        string stamp = Path.Combine(Root, "src", "Ptm.Cli", "obj", "ptm-build.stamp");

        // A build first (the stamp ignores commits, which the informational version records), so that the one below
        // finds everything up to date.
        File.Delete(stamp);
        var first = RunPtm(ptm);
        Assert.True(first.Code == 0, $"./ptm --version exited {first.Code}: {first.Err}");
        string version = first.Out.Trim();
        Assert.Matches(@"^\d+\.\d+\.\d+", version);
        var before = Snapshot();
        Assert.Contains(before.Keys, k => k.EndsWith("libLibTorchSharp.so", StringComparison.Ordinal));
        Assert.Contains(before.Keys, k => k.EndsWith("libptm_kernels.so", StringComparison.Ordinal));

        // Without its stamp every call finds the build stale: one builds under the lock (MSBuild finds everything up
        // to date), the others wait for it and then run.
        File.Delete(stamp);
        var runs = Enumerable.Range(0, 6).Select(_ => Task.Run(() => RunPtm(ptm))).ToArray();
        Task.WaitAll(runs);
        foreach (var run in runs.Select(t => t.Result))
        {
            Assert.True(run.Code == 0, $"a concurrent ./ptm --version exited {run.Code}: {run.Err}");
            Assert.Equal(version, run.Out.Trim());
        }
        Assert.True(File.Exists(stamp), "the build wrote no stamp");

        var after = Snapshot();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (file, state) in before)
            Assert.True(after[file] == state, $"{file} was rewritten by an up-to-date build ({state} -> {after[file]})");
        // TorchSharp copies libtorch into cpu/ only when loading its library failed.
        Assert.False(Directory.Exists(Path.Combine(ReleaseDir, "cpu")), $"{ReleaseDir}/cpu exists: TorchSharp's fallback ran");
        Assert.Empty(Directory.GetFiles(NativeDir, "*.ptm-tmp").Concat(Directory.GetFiles(ObjNativeDir, "*.ptm-tmp")));
    }

    /// <summary>Modification time and inode of every native file the build writes, so a rewrite by rename shows too.</summary>
    static Dictionary<string, string> Snapshot()
    {
        var files = Directory.GetFiles(NativeDir, "libptm_*.so").Append(Path.Combine(NativeDir, "libLibTorchSharp.so"))
            .Concat(Directory.GetFiles(ObjNativeDir, "*.so"));
        return files.ToDictionary(f => f, f => $"{File.GetLastWriteTimeUtc(f).Ticks}/{Inode(f)}");
    }

    static string Inode(string file)
    {
        var (code, output, _) = Run("stat", ["-c", "%i", file], TimeSpan.FromSeconds(30));
        Assert.Equal(0, code);
        return output.Trim();
    }

    static (int Code, string Out, string Err) RunPtm(string ptm) => Run("bash", [ptm, "--version"], TimeSpan.FromMinutes(8));

    static (int Code, string Out, string Err) Run(string file, string[] args, TimeSpan limit)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = Root };
        using var p = Process.Start(start)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(limit))
        {
            p.Kill(entireProcessTree: true);
            return (-1, stdout.Result, $"killed after {limit}: " + stderr.Result);
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
