using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Ptm.Tests.Tokenization;

/// <summary>
/// Cross-checks our encoder against Microsoft.ML.Tokenizers' BpeTokenizer configured as GPT-2 (byte-level, GPT-2's
/// pattern as a .NET Regex, &lt;|endoftext|&gt; special) and loaded from the same files. (CodeGenTokenizer.Create is
/// not GPT-2: it adds CodeGen's whitespace-run tokens with ids above 50256.)
/// </summary>
public class MicrosoftMlTokenizersComparisonTests
{
    internal const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    internal static BpeTokenizer CreateTheirs()
    {
        var specials = new Dictionary<string, int> { ["<|endoftext|>"] = 50256 };
        return BpeTokenizer.Create(new BpeOptions(Gpt2Files.VocabPath, Gpt2Files.MergesPath)
        {
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(new Regex(Gpt2Pattern, RegexOptions.Compiled), specials),
            SpecialTokens = specials,
        });
    }

    static readonly Lazy<BpeTokenizer> theirs = new(CreateTheirs);

    [Fact]
    public void Ids_MatchOnEnglishText()
    {
        string text = BpeTrainerTests.SampleCorpus() + "<|endoftext|>" + "I'm  here\t\tnow...  ";
        Assert.Equal(theirs.Value.EncodeToIds(text).ToArray(), Gpt2Files.Tokenizer.Encode(text));
    }

    [Fact]
    public void Ids_MatchOnRandomTextWithoutAstralLetters()
    {
        var random = new Random(99);
        for (int i = 0; i < 500; i++)
        {
            string text = RoundTripPropertyTests.RandomText(random, 40).Replace("𝐀", "").Replace("𠀀", "");
            Assert.Equal(theirs.Value.EncodeToIds(text).ToArray(), Gpt2Files.Tokenizer.Encode(text));
        }
    }

    /// <summary>
    /// .NET's Regex tests \p{L} per UTF-16 unit, so a letter outside the BMP (here U+1D400 MATHEMATICAL BOLD
    /// CAPITAL A) is not a letter to it: "a𝐀's" splits as "a", "𝐀'", "s" instead of "a𝐀", "'s". GPT-2's Python
    /// regex and the JavaScript reference work per code point. This is one reason we keep our own pre-tokenizer.
    /// </summary>
    [Fact]
    public void Ids_DifferOnAstralLetters_WhereOursFollowGpt2()
    {
        const string text = "a𝐀's";
        int[] reference = { 64, 47728, 238, 222, 338 };   // gpt-3-encoder, also in golden.json
        Assert.Equal(reference, Gpt2Files.Tokenizer.Encode(text));
        Assert.NotEqual(reference, theirs.Value.EncodeToIds(text).ToArray());
    }
}
