using System.Text;

namespace Ptm.Tests;

/// <summary>A fresh folder under the system temp folder, deleted on dispose.</summary>
sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ptm-test-" + Guid.NewGuid().ToString("N"));

    public TempDir() => Directory.CreateDirectory(Path);

    /// <summary>Writes <paramref name="text"/> as UTF-8 to a file under the folder (creating its folders); returns its path.</summary>
    public string File(string relative, string text) => Bytes(relative, Encoding.UTF8.GetBytes(text));

    /// <summary>Writes <paramref name="bytes"/> to a file under the folder (creating its folders); returns its path.</summary>
    public string Bytes(string relative, byte[] bytes)
    {
        string full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        System.IO.File.WriteAllBytes(full, bytes);
        return full;
    }

    /// <summary>The path of <paramref name="relative"/> under the folder, without creating anything.</summary>
    public string Sub(string relative) => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
