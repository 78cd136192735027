using Ptm.HuggingFace;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

public class SafeTensorsValidationTests : SafeTensorsTestBase
{
    const string ValidHeader = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
    static readonly byte[] EightBytes = new byte[8];

    void AssertOpenFails(string path, string fragment, string? tensor = null) =>
        AssertInvalid(() => SafeTensorsFile.Open(path).Dispose(), path, fragment, tensor);

    [Fact]
    public void HandCraftedValidFileOpens()
    {
        string path = WriteRaw("ok.safetensors", ValidHeader, EightBytes);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["a"], file.Names);
    }

    [Fact]
    public void MissingFile() => AssertOpenFails(PathOf("nope.safetensors"), "file not found");

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void FileShorterThanEightBytes(int length)
    {
        string path = PathOf("short.safetensors");
        File.WriteAllBytes(path, new byte[length]);
        AssertOpenFails(path, "shorter than the 8-byte header length");
    }

    [Fact]
    public void HeaderLengthLargerThanFile() =>
        AssertOpenFails(WriteRaw("long.safetensors", ValidHeader, EightBytes, declaredLength: 1000), "header length 1000 bytes exceeds");

    [Fact]
    public void AbsurdHeaderLength() =>
        AssertOpenFails(WriteRaw("huge.safetensors", ValidHeader, EightBytes, declaredLength: 200_000_000), "over the 100000000-byte limit");

    [Fact]
    public void TruncatedFile()
    {
        using var scope = NewDisposeScope();
        string path = PathOf("cut.safetensors");
        SafeTensorsWriter.Write(path, [new("a", ones(4)), new("b", zeros(3, dtype: ScalarType.Float64))]);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^3]);
        // Layout puts F64 'b' first, so the last bytes cut belong to 'a'.
        AssertOpenFails(path, "out of bounds", "a");
        // Cut into the header: the declared length no longer fits.
        File.WriteAllBytes(path, bytes[..20]);
        AssertOpenFails(path, "exceeds");
    }

    [Theory]
    [InlineData("{\"a\":", "not valid JSON")]
    [InlineData("[1,2]", "must be a JSON object, found an array")]
    [InlineData("\"text\"", "must be a JSON object, found a string")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", "not valid JSON")]
    public void HeaderNotAJsonObject(string header, string fragment) =>
        AssertOpenFails(WriteRaw("json.safetensors", header, EightBytes), fragment);

    [Theory]
    [InlineData("""{"shape":[2],"data_offsets":[0,8]}""", "no 'dtype'")]
    [InlineData("""{"dtype":"F32","data_offsets":[0,8]}""", "no 'shape'")]
    [InlineData("""{"dtype":"F32","shape":[2]}""", "no 'data_offsets'")]
    [InlineData("""{"dtype":7,"shape":[2],"data_offsets":[0,8]}""", "'dtype' must be a string")]
    [InlineData("""{"dtype":"F32","shape":"2","data_offsets":[0,8]}""", "'shape' must be an array")]
    [InlineData("""{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}""", "'shape' must be an array of non-negative integers, found -2")]
    [InlineData("""{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}""", "found 2.5")]
    [InlineData("""{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}""", "'shape' must be an array")]
    [InlineData("""{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}""", "'data_offsets' must be two")]
    [InlineData("""{"dtype":"F32","shape":[2],"data_offsets":{"begin":0}}""", "'data_offsets' must be an array")]
    [InlineData("""{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}""", "unexpected field 'extra'")]
    [InlineData("""[0,8]""", "entry must be an object")]
    public void MalformedEntry(string entry, string fragment) =>
        AssertOpenFails(WriteRaw("entry.safetensors", $"{{\"w\":{entry}}}", EightBytes), fragment, "w");

    [Fact]
    public void UnknownDtype() =>
        AssertOpenFails(WriteRaw("dtype.safetensors", """{"w":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}""", EightBytes),
            "unknown or unsupported dtype 'F31'", "w");

    [Fact]
    public void EndBeforeBegin() =>
        AssertOpenFails(WriteRaw("order.safetensors", """{"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}}""", EightBytes),
            "end before they begin", "w");

    [Fact]
    public void OutOfBoundsOffsets() =>
        AssertOpenFails(WriteRaw("oob.safetensors", """{"w":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", EightBytes),
            "out of bounds of the 8-byte data buffer", "w");

    [Fact]
    public void SizeDoesNotMatchShape() =>
        AssertOpenFails(WriteRaw("size.safetensors", """{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", EightBytes),
            "span 8 bytes but shape [3] of F32 needs 12", "w");

    [Fact]
    public void OverlappingRanges() =>
        AssertOpenFails(WriteRaw("overlap.safetensors",
                """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", EightBytes),
            "overlap those of tensor 'a'", "b");

    [Fact]
    public void HolesAndTrailingBytes()
    {
        AssertOpenFails(WriteRaw("hole.safetensors", """{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", EightBytes),
            "bytes [0, 4) belong to no tensor", "w");
        AssertOpenFails(WriteRaw("tail.safetensors", """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", EightBytes),
            "4 trailing bytes");
    }

    [Fact]
    public void DuplicateEntriesAndBadMetadata()
    {
        AssertOpenFails(WriteRaw("dup.safetensors",
                """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", EightBytes),
            "lists the tensor twice", "a");
        AssertOpenFails(WriteRaw("meta.safetensors", """{"__metadata__":{"n":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", EightBytes),
            "'__metadata__' value for key 'n' must be a string");
        AssertOpenFails(WriteRaw("meta2.safetensors", """{"__metadata__":[],"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", EightBytes),
            "'__metadata__' must be an object");
    }

    [Fact]
    public void PyTorchZipCheckpoint()
    {
        string path = PathOf("pytorch_model.bin");
        File.WriteAllBytes(path, [(byte)'P', (byte)'K', 3, 4, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        var ex = AssertInvalid(() => SafeTensorsFile.Open(path).Dispose(), path, "PyTorch zip checkpoint");
        Assert.Contains("not safetensors", ex.Message);
        Assert.Contains("save_file", ex.Message);
    }

    [Fact]
    public void PyTorchPickleCheckpoint()
    {
        string path = PathOf("legacy.bin");
        // Protocol-2 pickle as written by torch.save(..., _use_new_zipfile_serialization=False): PROTO 2, LONG1 magic number...
        File.WriteAllBytes(path, [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]);
        AssertInvalid(() => SafeTensorsFile.Open(path).Dispose(), path, "PyTorch pickle checkpoint");
    }

    [Fact]
    public void ValidFileWhoseLengthBytesLookLikeAPickleStillOpens()
    {
        // A 640-byte header (0x0280) starts the file with 0x80 0x02, the same bytes as a protocol-2 pickle.
        string path = WriteRaw("pickle-lookalike.safetensors", ValidHeader.PadRight(640), EightBytes);
        Assert.Equal(new byte[] { 0x80, 0x02 }, File.ReadAllBytes(path)[..2]);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["a"], file.Names);
    }

    [Fact]
    public void InvalidBoolBytesAndUnknownNamesFailOnLoad()
    {
        string path = WriteRaw("bool.safetensors", """{"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}      """, [1, 2]);
        using var file = SafeTensorsFile.Open(path);
        AssertInvalid(() => file.Load("m").Dispose(), path, "other than 0 and 1", "m");
        AssertInvalid(() => file.Load("missing").Dispose(), path, "no such tensor", "missing");
    }

    [Fact]
    public void AccessAfterDisposeThrows()
    {
        string path = WriteRaw("ok.safetensors", ValidHeader, EightBytes);
        var file = SafeTensorsFile.Open(path);
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.Load("a"));
    }
}
