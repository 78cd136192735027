using Ptm.HuggingFace;
using static TorchSharp.torch;

namespace Ptm.Tests.HuggingFace;

public class SafeTensorsIndexTests : SafeTensorsTestBase
{
    const string Shard1 = "model-00001-of-00002.safetensors";
    const string Shard2 = "model-00002-of-00002.safetensors";

    string WriteCheckpoint(string? weightMap = null)
    {
        using var scope = NewDisposeScope();
        SafeTensorsWriter.Write(PathOf(Shard1), [new("embed.weight", arange(6, ScalarType.Float32).reshape(2, 3)), new("layer.0.bias", ones(3))]);
        SafeTensorsWriter.Write(PathOf(Shard2), [new("head.weight", full(2, 2, 5.0f)), new("step", tensor(42L))]);
        weightMap ??= $$"""{"embed.weight":"{{Shard1}}","layer.0.bias":"{{Shard1}}","head.weight":"{{Shard2}}","step":"{{Shard2}}"}""";
        string index = PathOf("model.safetensors.index.json");
        File.WriteAllText(index, $$"""{"metadata":{"total_size":68,"format":"pt"},"weight_map":{{weightMap}}}""");
        return index;
    }

    [Fact]
    public void LoadsEveryNameFromTwoShards()
    {
        using var scope = NewDisposeScope();
        using var index = SafeTensorsIndex.Open(WriteCheckpoint());
        Assert.Equal(["embed.weight", "head.weight", "layer.0.bias", "step"], index.Names);
        Assert.Equal([PathOf(Shard1), PathOf(Shard2)], index.ShardPaths);
        Assert.Equal("68", index.Metadata["total_size"]);
        Assert.Equal("pt", index.Metadata["format"]);
        Assert.Equal(PathOf(Shard2), index.GetShardPath("step"));
        Assert.Equal(new long[] { 2, 3 }, index.GetInfo("embed.weight").Shape);

        var all = index.LoadAll();
        Assert.Equal(index.Names, all.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, all["embed.weight"].data<float>().ToArray());
        Assert.Equal(new float[] { 5, 5, 5, 5 }, all["head.weight"].data<float>().ToArray());
        Assert.Equal(42L, all["step"].item<long>());
        Assert.Equal(ScalarType.BFloat16, index.Load("layer.0.bias", ScalarType.BFloat16).dtype);
    }

    [Fact]
    public void OpensShardsLazily()
    {
        using var scope = NewDisposeScope();
        string indexPath = WriteCheckpoint();
        File.WriteAllBytes(PathOf(Shard2), [1, 2, 3]); // corrupt, but not needed for shard 1's tensors
        using var index = SafeTensorsIndex.Open(indexPath);
        Assert.Equal(new float[] { 1, 1, 1 }, index.Load("layer.0.bias").data<float>().ToArray());
        AssertInvalid(() => index.Load("step"), PathOf(Shard2), "shorter than the 8-byte header length");
    }

    [Fact]
    public void MissingShardFile()
    {
        string indexPath = WriteCheckpoint();
        File.Delete(PathOf(Shard2));
        var ex = AssertInvalid(() => SafeTensorsIndex.Open(indexPath), indexPath, $"shard file '{Shard2}' does not exist", "head.weight");
        Assert.Contains(PathOf(Shard2), ex.Message);
    }

    [Fact]
    public void NameMappedToAShardThatLacksIt()
    {
        string indexPath = WriteCheckpoint($$"""{"embed.weight":"{{Shard2}}","head.weight":"{{Shard2}}"}""");
        using var index = SafeTensorsIndex.Open(indexPath);
        AssertInvalid(() => index.Load("embed.weight"), indexPath, $"puts the tensor in '{Shard2}', which does not contain it", "embed.weight");
        AssertInvalid(() => index.Load("layer.0.bias"), indexPath, "weight_map has no such tensor", "layer.0.bias");
    }

    [Theory]
    [InlineData("""{"a":"../outside.safetensors"}""", "outside the index's folder")]
    [InlineData("""{"a":"/etc/passwd"}""", "relative to the index's folder")]
    [InlineData("""{"a":3}""", "weight_map values must be shard file names")]
    public void BadWeightMapEntries(string weightMap, string fragment)
    {
        string indexPath = WriteCheckpoint(weightMap);
        AssertInvalid(() => SafeTensorsIndex.Open(indexPath), indexPath, fragment, "a");
    }

    [Theory]
    [InlineData("{", "not valid JSON")]
    [InlineData("[]", "must be a JSON object")]
    [InlineData("""{"metadata":{}}""", "no \"weight_map\"")]
    public void MalformedIndex(string json, string fragment)
    {
        string indexPath = PathOf("model.safetensors.index.json");
        File.WriteAllText(indexPath, json);
        AssertInvalid(() => SafeTensorsIndex.Open(indexPath), indexPath, fragment);
    }
}
