using Ptm.Tokenization;

namespace Ptm.Tests.Tokenization;

public class BpeTrainerTests
{
    static readonly string[] Eot = { "<|endoftext|>" };

    [Fact]
    public void Train_TinyCorpus_LearnsTheHandComputedMerges()
    {
        // Pre-tokens: "ab", " ab" | "ab", " abc" (the special cuts the text and is not learned from).
        // Counts: (a,b)=4, (Ġ,a)=2, (b,c)=1 → "a b"; then (Ġ,ab)=2, (ab,c)=1 → "Ġ ab"; then (Ġab,c)=1 → "Ġab c".
        var t = ByteLevelBpeTokenizer.Train(new[] { "ab ab<|endoftext|>ab abc" }, 260, Eot);

        Assert.Equal(new[] { ("a", "b"), ("Ġ", "ab"), ("Ġab", "c") }, t.Merges);
        Assert.Equal(260, t.VocabSize);
        Assert.Equal("ab", t.TokenText(256));
        Assert.Equal("Ġab", t.TokenText(257));
        Assert.Equal("Ġabc", t.TokenText(258));
        Assert.Equal(259, t.EndOfTextId);
        Assert.Equal(new[] { 256, 258, 259, (int)'c' }, t.Encode("ab abc<|endoftext|>c"));
    }

    [Fact]
    public void Train_BreaksTiesByThePairsStrings()
    {
        // Every pair occurs once. Ordinal order: "x y" < "y x" < "Ġ y" (Ġ is U+0120); after "x y" and "y x" only
        // (Ġ, yx) is left.
        var t = ByteLevelBpeTokenizer.Train(new[] { "xy yx" }, 300, Array.Empty<string>());
        Assert.Equal(new[] { ("x", "y"), ("y", "x"), ("Ġ", "yx") }, t.Merges);
        Assert.Equal(259, t.VocabSize);   // ran out of pairs before 300
        Assert.Null(t.EndOfTextId);
    }

    [Fact]
    public void Train_RepeatedSymbols_MergeLeftToRightWithoutOverlap()
    {
        // "aaaaa": (a,a) occurs 4 times → "a a" gives [aa, aa, a]; then (aa,aa)=1 and (aa,a)=1; "aa a" < "aa aa".
        var t = ByteLevelBpeTokenizer.Train(new[] { "aaaaa" }, 300, Array.Empty<string>());
        Assert.Equal(new[] { ("a", "a"), ("aa", "a"), ("aa", "aaa") }, t.Merges);
        Assert.Equal(new[] { t.VocabSize - 1 }, t.Encode("aaaaa"));
    }

    [Fact]
    public void Train_MatchesANaiveTrainerThatRecountsEveryPair()
    {
        var random = new Random(5);
        string[] texts = { SampleCorpus()[..6000], RoundTripPropertyTests.RandomText(random, 400).Replace("𝐀", "").Replace("𠀀", ""), "aaaa aaaaaaa abab ababab" };
        var fast = ByteLevelBpeTokenizer.Train(texts, 256 + 300, Array.Empty<string>());
        Assert.Equal(NaiveMerges(texts, 300), fast.Merges);
    }

    /// <summary>Textbook BPE: recount all adjacent pairs before every merge; slow but obviously right. Pre-tokens
    /// come from GPT-2's pattern as a .NET Regex (the same as ours away from astral letters, which the caller strips).</summary>
    static List<(string, string)> NaiveMerges(IEnumerable<string> texts, int count)
    {
        var words = new Dictionary<string, long>(StringComparer.Ordinal);
        var gpt2 = Gpt2Files.Tokenizer;
        foreach (string text in texts)
            foreach (var piece in System.Text.RegularExpressions.Regex.Matches(text, MicrosoftMlTokenizersComparisonTests.Gpt2Pattern))
                words[piece.ToString()!] = words.GetValueOrDefault(piece.ToString()!) + 1;
        // GPT-2's ids 0..255 are its single-byte tokens; use them to spell bytes in the byte alphabet.
        var spell = new string[256];
        for (int id = 0; id < 256; id++) spell[gpt2.DecodeToBytes(new[] { id }).Single()] = gpt2.TokenText(id);
        var spelled = words.Select(w => (Symbols: System.Text.Encoding.UTF8.GetBytes(w.Key).Select(b => spell[b]).ToList(), Count: w.Value)).ToList();
        var merges = new List<(string, string)>();
        while (merges.Count < count)
        {
            var pairs = new Dictionary<(string, string), long>();
            foreach (var (symbols, n) in spelled)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    pairs[(symbols[i], symbols[i + 1])] = pairs.GetValueOrDefault((symbols[i], symbols[i + 1])) + n;
            if (pairs.Count == 0) break;
            var best = pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key.Item1, StringComparer.Ordinal)
                .ThenBy(p => p.Key.Item2, StringComparer.Ordinal).First().Key;
            merges.Add(best);
            foreach (var (symbols, _) in spelled)
                for (int i = 0; i + 1 < symbols.Count; i++)
                    if (symbols[i] == best.Item1 && symbols[i + 1] == best.Item2)
                    {
                        symbols[i] = best.Item1 + best.Item2;
                        symbols.RemoveAt(i + 1);
                    }
        }
        return merges;
    }

    [Fact]
    public void Train_SameInput_WritesIdenticalFiles()
    {
        string corpus = SampleCorpus();
        using var first = new TempDir();
        using var second = new TempDir();
        ByteLevelBpeTokenizer.Train(new[] { corpus }, 600, Eot).Save(first.Path);
        ByteLevelBpeTokenizer.Train(new[] { corpus }, 600, Eot).Save(second.Path);
        Assert.Equal(File.ReadAllBytes(first.Sub("vocab.json")), File.ReadAllBytes(second.Sub("vocab.json")));
        Assert.Equal(File.ReadAllBytes(first.Sub("merges.txt")), File.ReadAllBytes(second.Sub("merges.txt")));
    }

    [Fact]
    public void SaveThenLoad_GivesIdenticalIds()
    {
        string corpus = SampleCorpus();
        var trained = ByteLevelBpeTokenizer.Train(corpus.Split('\n'), 700, Eot);
        Assert.Equal(700, trained.VocabSize);
        using var dir = new TempDir();
        trained.Save(dir.Path);
        Assert.StartsWith("#version", File.ReadAllLines(dir.Sub("merges.txt"))[0]);

        var loaded = (ByteLevelBpeTokenizer)TokenizerFiles.Load(dir.Path);
        Assert.Equal(trained.VocabSize, loaded.VocabSize);
        Assert.Equal(trained.EndOfTextId, loaded.EndOfTextId);
        Assert.Equal(trained.Merges, loaded.Merges);
        string probe = corpus[..2000] + "<|endoftext|> unseen wörds 😀 123";
        Assert.Equal(trained.Encode(probe), loaded.Encode(probe));
        Assert.True(trained.Encode(probe).Length < probe.Length / 2, "merges should compress the training text");
    }

    [Fact]
    public void SaveThenLoad_Gpt2Vocabulary_RoundTripsInHuggingFaceLayout()
    {
        using var dir = new TempDir();
        Gpt2Files.Tokenizer.Save(dir.Path);
        var loaded = ByteLevelBpeTokenizer.Load(dir.Path);
        const string text = "Saving GPT-2's files, then loading them again.<|endoftext|>";
        Assert.Equal(Gpt2Files.Tokenizer.Encode(text), loaded.Encode(text));
        Assert.Equal(50256, loaded.EndOfTextId);
    }

    [Fact]
    public void Train_VocabTooSmall_ThrowsArgumentException()
    {
        var e = Assert.Throws<ArgumentException>(() => ByteLevelBpeTokenizer.Train(new[] { "text" }, 256, Eot));
        Assert.Contains("257", e.Message);
    }

    [Fact]
    public void Train_EmptyCorpus_ThrowsInvalidInput()
    {
        Assert.Throws<InvalidInputException>(() => ByteLevelBpeTokenizer.Train(Array.Empty<string>(), 300, Eot));
        Assert.Throws<InvalidInputException>(() => ByteLevelBpeTokenizer.Train(new[] { "", "<|endoftext|>" }, 300, Eot));
    }

    /// <summary>~40 KB of varied English-like text, generated so the test needs no data file.</summary>
    internal static string SampleCorpus()
    {
        var random = new Random(1234);
        string[] words = "the of and to in is was that for it with as his on be at by had are but from or have an they which one you were her all she there would their we him been has when who will more no if out so said what up its about into than them can only other new some could time these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people how too little state good very make world still own see men work long get here between both life being under never day same another know while last might us great old year off come since against go came right used take three".Split(' ');
        var sb = new System.Text.StringBuilder();
        for (int line = 0; line < 600; line++)
        {
            int n = random.Next(4, 14);
            for (int w = 0; w < n; w++)
            {
                string word = words[(int)(Math.Pow(random.NextDouble(), 2) * words.Length)];
                sb.Append(w == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : " " + word);
                if (random.Next(10) == 0) sb.Append(',');
            }
            sb.Append(random.Next(5) == 0 ? "? " : ". ").Append(random.Next(100)).Append('\n');
        }
        return sb.ToString();
    }
}
