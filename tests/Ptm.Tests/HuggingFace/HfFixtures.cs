using Ptm.HuggingFace;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

/// <summary>The tiny HF-layout checkpoints and reference outputs of fixtures/hf (tests/fixtures/hf/make_fixtures.py).</summary>
static class HfFixtures
{
    public static string Root => Path.Combine(AppContext.BaseDirectory, "fixtures", "hf");
    public static string Gpt2 => Path.Combine(Root, "gpt2");
    public static string Bert => Path.Combine(Root, "bert");

    public static Dictionary<string, Tensor> Expected(string name)
    {
        using var file = SafeTensorsFile.Open(Path.Combine(Root, name + "_expected.safetensors"));
        return file.LoadAll();
    }

    public static double MaxAbs(Tensor a, Tensor b) => (a.to_type(ScalarType.Float32) - b.to_type(ScalarType.Float32)).abs().max().item<float>();

    /// <summary>A scratch folder deleted on dispose.</summary>
    public sealed class Scratch : IDisposable
    {
        public string Dir { get; } = Path.Combine(Path.GetTempPath(), "ptm-hf-" + Guid.NewGuid().ToString("N"));
        public Scratch() => Directory.CreateDirectory(Dir);
        public string this[string name] => Path.Combine(Dir, name);
        public void Dispose() { if (Directory.Exists(Dir)) Directory.Delete(Dir, true); }
    }

    /// <summary>Copies a fixture folder, rewriting its weights through <paramref name="edit"/> (rename, drop, add).</summary>
    public static string Variant(string fixture, string dir, Func<Dictionary<string, Tensor>, Dictionary<string, Tensor>>? edit = null,
        Action<string>? afterCopy = null)
    {
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(fixture)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        if (edit is not null)
        {
            Dictionary<string, Tensor> tensors;
            using (var file = SafeTensorsFile.Open(Path.Combine(fixture, "model.safetensors"))) tensors = file.LoadAll();
            SafeTensorsWriter.Write(Path.Combine(dir, "model.safetensors"), edit(tensors), new Dictionary<string, string> { ["format"] = "pt" });
        }
        afterCopy?.Invoke(dir);
        return dir;
    }

    public static Dictionary<string, Tensor> Rename(Dictionary<string, Tensor> t, Func<string, string?> rename) =>
        t.Select(kv => (Name: rename(kv.Key), kv.Value)).Where(x => x.Name is not null).ToDictionary(x => x.Name!, x => x.Value);
}
