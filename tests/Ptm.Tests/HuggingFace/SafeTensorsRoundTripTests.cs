using System.Text;
using Ptm.HuggingFace;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

public class SafeTensorsRoundTripTests : SafeTensorsTestBase
{
    static KeyValuePair<string, Tensor> T(string name, Tensor t) => new(name, t);

    static byte[] BytesOf(Tensor t)
    {
        using var c = t.contiguous();
        return c.bytes.ToArray();
    }

    [Fact]
    public void WritesExactGoldenBytes()
    {
        using var scope = NewDisposeScope();
        string path = PathOf("golden.safetensors");
        SafeTensorsWriter.Write(path, [T("a", tensor(new float[] { 1, 2 })), T("b", tensor(new long[] { 7 }))]);

        // Header keys are in name order; the data is laid out largest element size first, so b (I64) precedes a (F32).
        const string json = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""";
        Assert.Equal(108, json.Length); // 108 bytes of JSON + 4 spaces = 112, the next multiple of 8
        var expected = new List<byte> { 112, 0, 0, 0, 0, 0, 0, 0 };
        expected.AddRange(Encoding.ASCII.GetBytes(json + "    "));
        expected.AddRange(new byte[] { 7, 0, 0, 0, 0, 0, 0, 0 });       // b = 7L
        expected.AddRange(new byte[] { 0x00, 0x00, 0x80, 0x3F });        // a[0] = 1.0f
        expected.AddRange(new byte[] { 0x00, 0x00, 0x00, 0x40 });        // a[1] = 2.0f
        Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
    }

    [Fact]
    public void EmptyCheckpointIsAPaddedEmptyObject()
    {
        string path = PathOf("empty.safetensors");
        SafeTensorsWriter.Write(path, []);
        Assert.Equal(new byte[] { 8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}', 32, 32, 32, 32, 32, 32 }, File.ReadAllBytes(path));
        using var file = SafeTensorsFile.Open(path);
        Assert.Empty(file.Names);
        Assert.Empty(file.Metadata);
    }

    public static TheoryData<ScalarType, string> Dtypes => new()
    {
        { ScalarType.Float32, "F32" }, { ScalarType.Float16, "F16" }, { ScalarType.BFloat16, "BF16" }, { ScalarType.Float64, "F64" },
        { ScalarType.Int64, "I64" }, { ScalarType.Int32, "I32" }, { ScalarType.Int16, "I16" }, { ScalarType.Int8, "I8" },
        { ScalarType.Byte, "U8" }, { ScalarType.Bool, "BOOL" },
    };

    static Tensor Sample(ScalarType type) => type switch
    {
        ScalarType.Bool => tensor(new[] { true, false, false, true, true, false }).reshape(2, 3),
        ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64 =>
            tensor(new[] { 1.5f, -0.0f, float.PositiveInfinity, float.NaN, 3.14159f, -65504f, 1e-6f, 0.1f }).reshape(2, 4).to_type(type),
        _ => tensor(new long[] { 0, 1, -1, 100, -100, 127, -128, 42 }).reshape(2, 4).to_type(type),
    };

    [Theory]
    [MemberData(nameof(Dtypes))]
    public void RoundTripsEveryDtypeBitForBit(ScalarType type, string dtypeName)
    {
        using var scope = NewDisposeScope();
        var source = Sample(type);
        string path = PathOf($"{dtypeName}.safetensors");
        SafeTensorsWriter.Write(path, [T("x", source)]);

        using var file = SafeTensorsFile.Open(path);
        var info = file.GetInfo("x");
        Assert.Equal(dtypeName, info.DType);
        Assert.Equal(source.shape, info.Shape);
        var loaded = file.Load("x");
        Assert.Equal(type, loaded.dtype);
        Assert.Equal(source.shape, loaded.shape);
        Assert.Equal(BytesOf(source), BytesOf(loaded));
    }

    [Fact]
    public void RoundTripsScalarsEmptyAndTransposedTensors()
    {
        using var scope = NewDisposeScope();
        var scalar = tensor(2.5f);
        var empty = zeros(new long[] { 0, 3 }, ScalarType.Int32);
        var transposed = arange(6, ScalarType.Float32).reshape(2, 3).t();
        Assert.False(transposed.is_contiguous());
        string path = PathOf("shapes.safetensors");
        SafeTensorsWriter.Write(path, [T("scalar", scalar), T("empty", empty), T("transposed", transposed)]);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["empty", "scalar", "transposed"], file.Names);
        Assert.Empty(file.GetInfo("scalar").Shape);
        var all = file.LoadAll();
        Assert.Empty(all["scalar"].shape);
        Assert.Equal(2.5f, all["scalar"].item<float>());
        Assert.Equal(new long[] { 0, 3 }, all["empty"].shape);
        Assert.Equal(ScalarType.Int32, all["empty"].dtype);
        Assert.Equal(new long[] { 3, 2 }, all["transposed"].shape);
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, all["transposed"].data<float>().ToArray());
        Assert.Equal(BytesOf(transposed), BytesOf(all["transposed"]));
        foreach (var t in all.Values) t.Dispose();
    }

    [Fact]
    public void RoundTripsMetadata()
    {
        using var scope = NewDisposeScope();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "é \"quoted\" \\ π", ["empty"] = "" };
        string path = PathOf("meta.safetensors");
        SafeTensorsWriter.Write(path, [T("w", ones(2, 2))], metadata);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(metadata.OrderBy(kv => kv.Key), file.Metadata.OrderBy(kv => kv.Key));
        // The header stays a multiple of 8 bytes, so the data starts aligned.
        Assert.Equal(0, file.HeaderLength % 8);
    }

    [Fact]
    public void WritingTheSameTensorsTwiceGivesIdenticalBytes()
    {
        using var scope = NewDisposeScope();
        var w = randn(3, 5);
        var b = arange(4, ScalarType.Int64);
        var h = randn(7).to_type(ScalarType.BFloat16);
        var meta1 = new Dictionary<string, string> { ["x"] = "1", ["a"] = "2" };
        var meta2 = new Dictionary<string, string> { ["a"] = "2", ["x"] = "1" };
        string first = PathOf("one.safetensors"), second = PathOf("two.safetensors");
        SafeTensorsWriter.Write(first, [T("w", w), T("b", b), T("h", h)], meta1);
        SafeTensorsWriter.Write(second, [T("h", h), T("b", b), T("w", w)], meta2); // other insertion order
        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
        byte[] before = File.ReadAllBytes(first);
        SafeTensorsWriter.Write(first, [T("w", w), T("b", b), T("h", h)], meta1);
        Assert.Equal(before, File.ReadAllBytes(first));
    }

    [Fact]
    public void ConvertsOnLoad()
    {
        using var scope = NewDisposeScope();
        var source = tensor(new[] { 1.0f, 3.14159f, -2.71828f, 1e-3f });
        string path = PathOf("f32.safetensors");
        SafeTensorsWriter.Write(path, [T("w", source)]);

        using var file = SafeTensorsFile.Open(path);
        var loaded = file.Load("w", ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, loaded.dtype);
        Assert.Equal(BytesOf(source.to_type(ScalarType.BFloat16)), BytesOf(loaded));
        Assert.Equal(ScalarType.Float64, file.LoadAll(ScalarType.Float64)["w"].dtype);
        var same = file.Load("w", ScalarType.Float32);
        Assert.Equal(BytesOf(source), BytesOf(same));
    }

    [Fact]
    public void RejectsDuplicateNamesAndUnsupportedDtypes()
    {
        using var scope = NewDisposeScope();
        string path = PathOf("bad.safetensors");
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [T("a", ones(1)), T("a", ones(1))]));
        Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [T("__metadata__", ones(1))]));
        var ex = Assert.Throws<ArgumentException>(() => SafeTensorsWriter.Write(path, [T("c", ones(new long[] { 2 }, ScalarType.ComplexFloat32))]));
        Assert.Contains("'c'", ex.Message);
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFileSystemEntries(Dir)); // no temporary file left behind either
    }

    [Fact]
    public void LargeTensorsAreCopiedInSlices()
    {
        using var scope = NewDisposeScope();
        long saved = TensorBytes.SliceBytes;
        TensorBytes.SliceBytes = 12; // 3 floats per slice, so 10 elements take 4 uneven slices each way
        try
        {
            var source = arange(10, ScalarType.Float32).reshape(2, 5).t();
            string path = PathOf("sliced.safetensors");
            SafeTensorsWriter.Write(path, [T("x", source)]);
            using var file = SafeTensorsFile.Open(path);
            var loaded = file.Load("x");
            Assert.Equal(new long[] { 5, 2 }, loaded.shape);
            Assert.Equal(new float[] { 0, 5, 1, 6, 2, 7, 3, 8, 4, 9 }, loaded.data<float>().ToArray());
        }
        finally
        {
            TensorBytes.SliceBytes = saved;
        }
    }
}
