using Ptm.HuggingFace;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

public class SafeTensorsAtomicityTests : SafeTensorsTestBase
{
    [Fact]
    public void EnumerableThatThrowsMidwayLeavesThePreviousFileAndNoTempFile()
    {
        using var scope = NewDisposeScope();
        string path = PathOf("model.safetensors");
        SafeTensorsWriter.Write(path, [new("old", ones(3))]);
        byte[] before = File.ReadAllBytes(path);

        bool temporaryFileExisted = false;
        IEnumerable<KeyValuePair<string, Tensor>> Failing()
        {
            yield return new("a", zeros(1000));
            // By now the writer has its temporary file open next to the target.
            temporaryFileExisted = Directory.GetFiles(Dir).Any(f => f.EndsWith(".tmp", StringComparison.Ordinal));
            throw new InvalidOperationException("boom");
        }

        var ex = Assert.Throws<InvalidOperationException>(() => SafeTensorsWriter.Write(path, Failing()));
        Assert.Equal("boom", ex.Message);
        Assert.True(temporaryFileExisted);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Dir));
    }

    [Fact]
    public void FailedRenameLeavesNoTempFile()
    {
        using var scope = NewDisposeScope();
        // The target is a folder, so everything is written and only the final rename fails.
        string path = PathOf("taken");
        Directory.CreateDirectory(path);
        Assert.ThrowsAny<IOException>(() => SafeTensorsWriter.Write(path, [new("a", ones(4))]));
        Assert.True(Directory.Exists(path));
        Assert.Empty(Directory.GetFiles(Dir));
    }

    [SkippableFact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // reached only after the Skip below
    public void ReadOnlyFolderLeavesThePreviousFileIntact()
    {
        Skip.If(OperatingSystem.IsWindows(), "Unix file modes do not apply on Windows");
        using var scope = NewDisposeScope();
        string folder = PathOf("ro");
        string path = Path.Combine(folder, "model.safetensors");
        SafeTensorsWriter.Write(path, [new("old", ones(3))]);
        byte[] before = File.ReadAllBytes(path);
        var mode = File.GetUnixFileMode(folder);
        File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            Skip.If(CanCreateFileIn(folder), "the process may write into a read-only folder (running as root); TemporaryFileThatCannotBeCreatedLeavesThePreviousFileIntact checks the same property without permissions");
            Assert.ThrowsAny<UnauthorizedAccessException>(() => SafeTensorsWriter.Write(path, [new("new", zeros(3))]));
            Assert.Equal(before, File.ReadAllBytes(path));
            Assert.Equal([path], Directory.GetFiles(folder));
        }
        finally
        {
            File.SetUnixFileMode(folder, mode);
        }
    }

    /// <summary>
    /// The same property as the read-only folder, reached in a way that holds for root too: the target's name is
    /// legal (under the file system's 255-byte limit) but the temporary name built from it (".name.pid.guid.tmp") is
    /// not, so creating the temporary file fails before anything is written.
    /// </summary>
    [Fact]
    public void TemporaryFileThatCannotBeCreatedLeavesThePreviousFileIntact()
    {
        using var scope = NewDisposeScope();
        string path = PathOf(new string('m', 230) + ".safetensors");
        byte[] before = [1, 2, 3];
        File.WriteAllBytes(path, before);
        Assert.ThrowsAny<IOException>(() => SafeTensorsWriter.Write(path, [new("new", zeros(3))]));
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(Dir));
    }

    static bool CanCreateFileIn(string folder)
    {
        string probe = Path.Combine(folder, ".probe");
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    [Fact]
    public void ReaderKeepsWorkingWhileTheFileIsReplaced()
    {
        using var scope = NewDisposeScope();
        string path = PathOf("live.safetensors");
        SafeTensorsWriter.Write(path, [new("w", tensor(new float[] { 1, 2, 3 }))]);
        using var file = SafeTensorsFile.Open(path);
        SafeTensorsWriter.Write(path, [new("w", tensor(new float[] { 9, 9, 9 }))]);
        Assert.Equal(new float[] { 1, 2, 3 }, file.Load("w").data<float>().ToArray());
        using var fresh = SafeTensorsFile.Open(path);
        Assert.Equal(new float[] { 9, 9, 9 }, fresh.Load("w").data<float>().ToArray());
    }
}
