using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

/// <summary>OpenAI's GPT-2 vocabulary from fixtures/gpt2, loaded once for all tests.</summary>
internal static class Gpt2Files
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures", "gpt2");
    public static string VocabPath => Path.Combine(Directory, "encoder.json");
    public static string MergesPath => Path.Combine(Directory, "vocab.bpe");

    static readonly Lazy<ByteLevelBpeTokenizer> tokenizer = new(() => ByteLevelBpeTokenizer.Load(VocabPath, MergesPath));
    public static ByteLevelBpeTokenizer Tokenizer => tokenizer.Value;
}
