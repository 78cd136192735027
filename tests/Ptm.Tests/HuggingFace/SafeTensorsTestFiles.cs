using System.Buffers.Binary;
using System.Text;
using Ptm.Kernels;

namespace Ptm.Tests.HuggingFace;

/// <summary>A scratch folder per test class, plus helpers to hand-craft safetensors files.</summary>
public abstract class SafeTensorsTestBase : IDisposable
{
    protected readonly string Dir;

    protected SafeTensorsTestBase()
    {
        TorchRuntime.EnsureInitialized();
        Dir = Path.Combine(Path.GetTempPath(), "ptm-st-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        GC.SuppressFinalize(this);
    }

    protected string PathOf(string name) => Path.Combine(Dir, name);

    /// <summary>Writes an 8-byte length (the header's real length unless <paramref name="declaredLength"/> is given),
    /// the header text and the data bytes.</summary>
    protected string WriteRaw(string name, string header, byte[] data, ulong? declaredLength = null)
    {
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)json.Length);
        json.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + json.Length);
        string path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Asserts the failure is an InvalidInputException with a one-line message that starts with the path,
    /// says <paramref name="fragment"/> and, when given, ends by naming the tensor.</summary>
    protected static InvalidInputException AssertInvalid(Action action, string path, string fragment, string? tensor = null)
    {
        var ex = Assert.Throws<InvalidInputException>(action);
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(fragment, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        if (tensor is not null)
            Assert.EndsWith($"(tensor '{tensor}')", ex.Message);
        return ex;
    }
}
