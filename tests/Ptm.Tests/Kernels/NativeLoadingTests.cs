using System.Diagnostics;
using Ptm.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.Kernels;

public class NativeLoadingTests
{
    [Fact]
    public void MatmulAndBackwardRun()
    {
        TorchRuntime.EnsureInitialized();
        using var scope = NewDisposeScope();
        var a = tensor(new float[] { 1, 2, 3, 4 }, 2, 2).requires_grad_();
        var b = tensor(new float[] { 5, 6, 7, 8 }, 2, 2);
        var loss = a.matmul(b).sum();
        loss.backward();
        Assert.Equal(1 * 5 + 2 * 7 + 1 * 6 + 2 * 8 + 3 * 5 + 4 * 7 + 3 * 6 + 4 * 8, loss.item<float>());
        // d(sum(A B))/dA[i,k] = sum_j B[k,j]
        Assert.Equal(new float[] { 11, 15, 11, 15 }, a.grad!.data<float>().ToArray());
    }

    [Fact]
    public void OutputCopyIsPatchedExactlyWhenTheSystemLibStdCxxIsTooOld()
    {
        string lib = Path.Combine(TorchRuntime.NativeDirectory, "libLibTorchSharp.so");
        Assert.True(File.Exists(lib), $"{lib} should have been copied by the build");
        bool systemHasVersion = SystemLibStdCxxDefines("GLIBCXX_3.4.32");
        string needs = Run("readelf", $"-V \"{lib}\"");
        string line = needs.Split('\n').Single(l => l.Contains("Name: GLIBCXX_3.4.32"));
        if (systemHasVersion)
        {
            Assert.Contains("Flags: none", line);
            Assert.False(TorchRuntime.GlibcxxShimLoaded);
        }
        else
        {
            Assert.Contains("WEAK", line);
            Assert.True(TorchRuntime.GlibcxxShimLoaded, "the shim must be loaded before torch");
        }
    }

    static bool SystemLibStdCxxDefines(string version)
    {
        string ldconfig = Run("/sbin/ldconfig", "-p");
        string path = ldconfig.Split('\n').Where(l => l.TrimStart().StartsWith("libstdc++.so.6 ") && l.Contains("x86-64"))
            .Select(l => l[(l.IndexOf("=> ", StringComparison.Ordinal) + 3)..].Trim()).First();
        return Run("readelf", $"-V \"{path}\"").Contains($"Name: {version}");
    }

    static string Run(string file, string args)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return output;
    }
}
