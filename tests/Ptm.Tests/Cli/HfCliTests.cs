using Ptm.Tokenization;
using Ptm.Tests.HuggingFace;

namespace Ptm.Tests.Cli;

/// <summary><c>ptm convert</c>, <c>ptm export --format hf</c> and <c>ptm inspect</c>, including their failures.</summary>
public sealed class HfCliTests
{
    [Fact]
    public void Convert_inspect_and_export_a_gpt2_folder()
    {
        using var s = new HfFixtures.Scratch();
        var r = CliHarness.Run("convert", "--from", HfFixtures.Gpt2, "--to", s["ours"]);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("architecture  GPT2LMHeadModel", r.Out);
        Assert.Contains("tied          lm_head.weight", r.Out);

        var hf = CliHarness.Run("inspect", HfFixtures.Gpt2);
        Assert.True(hf.ExitCode == 0, hf.Err);
        var ours = CliHarness.Run("inspect", s["ours"]);
        // Same parameter count whichever layout: tied copies and buffers are not parameters.
        string Params(string text) => text.Split('\n').Single(l => l.StartsWith("parameters"));
        Assert.Equal(Params(hf.Out), Params(ours.Out));
        Assert.Contains("tokenizer     bpe, 261 tokens, special: <|endoftext|>", ours.Out);

        var ex = CliHarness.Run("export", "--model", s["ours"], "--to", s["hf"], "--format", "hf");
        Assert.True(ex.ExitCode == 0, ex.Err);
        var back = CliHarness.Run("inspect", s["hf"]);
        Assert.Contains("architecture  GPT2LMHeadModel", back.Out);
        Assert.Equal(Params(hf.Out), Params(back.Out));
        // Every folder we write carries Hugging Face's single-file tokenizer too, naming the special token.
        foreach (string dir in new[] { s["ours"], s["hf"] })
            Assert.Equal(261, ByteLevelBpeTokenizer.LoadHuggingFaceJson(Path.Combine(dir, "tokenizer.json")).VocabSize);
        Assert.Contains("<|endoftext|>", File.ReadAllText(Path.Combine(s["hf"], "tokenizer.json")));
    }

    [Fact]
    public void Convert_a_bert_folder_in_bfloat16()
    {
        using var s = new HfFixtures.Scratch();
        var r = CliHarness.Run("convert", "--from", HfFixtures.Bert, "--to", s["ours"], "--dtype", "bfloat16");
        Assert.True(r.ExitCode == 0, r.Err);
        var i = CliHarness.Run("inspect", s["ours"]);
        Assert.Contains("BF16: ", i.Out);
        Assert.Contains("tokenizer     wordpiece, 28 tokens, special: [PAD] [UNK] [CLS] [SEP] [MASK]", i.Out);

        var ex = CliHarness.Run("export", "--model", s["ours"], "--to", s["hf"], "--format", "hf");
        Assert.True(ex.ExitCode == 0, ex.Err);
        var fromJson = WordPieceTokenizer.LoadHuggingFaceJson(Path.Combine(s["hf"], "tokenizer.json"));
        Assert.Equal(WordPieceTokenizer.Load(HfFixtures.Bert).Settings, fromJson.Settings);
    }

    /// <summary>A Hugging Face folder whose only tokenizer file is tokenizer.json, as many hub repositories are.</summary>
    static string WithOnlyTokenizerJson(string fixture, string dir)
    {
        HfFixtures.Variant(fixture, dir);
        var tokenizer = TokenizerFiles.Load(dir);
        string json = Path.Combine(dir, "tokenizer.json");
        if (tokenizer is ByteLevelBpeTokenizer bpe) bpe.SaveHuggingFaceJson(json);
        else ((WordPieceTokenizer)tokenizer).SaveHuggingFaceJson(json);
        foreach (string f in new[] { "vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json" }) File.Delete(Path.Combine(dir, f));
        return dir;
    }

    [Fact]
    public void Convert_from_a_folder_with_only_tokenizer_json()
    {
        using var s = new HfFixtures.Scratch();
        var r = CliHarness.Run("convert", "--from", WithOnlyTokenizerJson(HfFixtures.Gpt2, s["gpt2"]), "--to", s["gpt2-ours"]);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("tokenizer     bpe, 261 tokens, special: <|endoftext|>", CliHarness.Run("inspect", s["gpt2-ours"]).Out);

        r = CliHarness.Run("convert", "--from", WithOnlyTokenizerJson(HfFixtures.Bert, s["bert"]), "--to", s["bert-ours"]);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("tokenizer     wordpiece, 28 tokens", CliHarness.Run("inspect", s["bert-ours"]).Out);
        Assert.Equal(WordPieceTokenizer.Load(HfFixtures.Bert).Settings, WordPieceTokenizer.Load(s["bert-ours"]).Settings);
    }

    static void AssertFailsCleanly(string from, string to, params string[] mentions)
    {
        var r = CliHarness.Run("convert", "--from", from, "--to", to);
        CliHarness.AssertOneLineError(r, mentions);
        Assert.False(Directory.Exists(to));
        Assert.Empty(Directory.GetDirectories(Path.GetDirectoryName(to)!, ".*.tmp"));
    }

    [Fact]
    public void A_truncated_weights_file_fails_with_one_line()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"], afterCopy: d =>
        {
            string path = Path.Combine(d, "model.safetensors");
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..(bytes.Length - 100)]);
        });
        AssertFailsCleanly(dir, s["out"], "model.safetensors");
    }

    [Fact]
    public void A_header_length_past_the_end_of_the_file_fails_with_one_line()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"], afterCopy: d =>
        {
            string path = Path.Combine(d, "model.safetensors");
            var bytes = File.ReadAllBytes(path);
            BitConverter.GetBytes((ulong)bytes.Length).CopyTo(bytes, 0);
            File.WriteAllBytes(path, bytes);
        });
        AssertFailsCleanly(dir, s["out"], "header length");
    }

    [Fact]
    public void A_pickle_checkpoint_fails_with_how_to_convert_it()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"], afterCopy: d =>
        {
            File.Delete(Path.Combine(d, "model.safetensors"));
            // A torch.save zip archive starts with the zip signature; a legacy pickle with 0x80 0x02.
            File.WriteAllBytes(Path.Combine(d, "pytorch_model.bin"), [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8]);
        });
        AssertFailsCleanly(dir, s["out"], "pytorch_model.bin", "pickle", "model.safetensors");
        // The same bytes under the safetensors name are recognised too.
        File.Move(Path.Combine(dir, "pytorch_model.bin"), Path.Combine(dir, "model.safetensors"));
        AssertFailsCleanly(dir, s["out"], "PyTorch", "not safetensors");
    }

    [Fact]
    public void A_shape_that_disagrees_with_the_config_names_the_tensor()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Bert, s["v"], afterCopy: d =>
            File.WriteAllText(Path.Combine(d, "config.json"), File.ReadAllText(Path.Combine(d, "config.json")).Replace("\"intermediate_size\": 32", "\"intermediate_size\": 64")));
        AssertFailsCleanly(dir, s["out"], "bert.encoder.layer.0.intermediate.dense.bias", "[32]", "[64]");
    }

    [Fact]
    public void A_missing_tokenizer_file_fails_with_one_line()
    {
        using var s = new HfFixtures.Scratch();
        string dir = HfFixtures.Variant(HfFixtures.Gpt2, s["v"], afterCopy: d => File.Delete(Path.Combine(d, "merges.txt")));
        AssertFailsCleanly(dir, s["out"], "merges.txt");
    }

    [Fact]
    public void Converting_into_a_non_empty_folder_is_refused()
    {
        using var s = new HfFixtures.Scratch();
        Directory.CreateDirectory(s["out"]);
        File.WriteAllText(Path.Combine(s["out"], "keep.txt"), "x");
        var r = CliHarness.Run("convert", "--from", HfFixtures.Gpt2, "--to", s["out"]);
        CliHarness.AssertOneLineError(r, "not empty");
        Assert.Equal(["keep.txt"], Directory.GetFileSystemEntries(s["out"]).Select(Path.GetFileName));
    }
}
