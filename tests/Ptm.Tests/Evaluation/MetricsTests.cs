using Ptm.Evaluation;

namespace Ptm.Tests.Evaluation;

public class BleuTests
{
    [Theory]
    [InlineData("Hello, world! It's 3.5 - 4,000 (approx).", "Hello , world ! It's 3.5 - 4,000 ( approx ) .")]
    [InlineData("1990-2000 was \"fine\" &amp; done.  ", "1990 - 2000 was \" fine \" & done .")]
    [InlineData("e-mail a.b,c", "e-mail a . b , c")]
    public void Tokenize13aSplitsPunctuationAsMteval(string line, string expected) =>
        Assert.Equal(expected, Bleu.Tokenize13a(line));

    [Fact]
    public void HandComputedSentenceWithExpSmoothing()
    {
        // 1-grams 5/6 (the×2, cat, on, mat), 2-grams 3/5, 3-grams 1/4 ("on the mat"), 4-grams 0/3 → 1/(2·3); no brevity penalty.
        var score = Bleu.Corpus(["the cat sat on the mat"], ["the cat is on the mat"]);
        Assert.Equal([5L, 3, 1, 0], score.Correct);
        Assert.Equal([6L, 5, 4, 3], score.Total);
        Assert.Equal(100 * Math.Pow(5.0 / 6 * 3.0 / 5 * 1.0 / 4 * 1.0 / 6, 0.25), score.Score, 1e-9);
    }

    [Fact]
    public void CorpusStatisticsAreSummedBeforeThePrecisionsAndTheBrevityPenalty()
    {
        // Second pair: 1-grams 2/3, 2-grams 1/2, 3-grams 0/1; lengths 3 vs 5. Corpus: 7/9, 4/7, 1/5, 0/3; c = 9, r = 11.
        var score = Bleu.Corpus(["the cat sat on the mat", "a dog barks"], ["the cat is on the mat", "the dog barks loudly today"]);
        Assert.Equal([7L, 4, 1, 0], score.Correct);
        Assert.Equal([9L, 7, 5, 3], score.Total);
        Assert.Equal(9, score.HypothesisLength);
        Assert.Equal(11, score.ReferenceLength);
        double bp = Math.Exp(1 - 11.0 / 9);
        Assert.Equal(bp, score.BrevityPenalty, 1e-12);
        Assert.Equal(bp * 100 * Math.Pow(7.0 / 9 * 4.0 / 7 * 1.0 / 5 * 1.0 / 6, 0.25), score.Score, 1e-9);
    }

    // sacreBLEU's test/test_bleu.py (github.com/mjpost/sacrebleu): the README example, 48.530827 with the defaults;
    // empty hypotheses give 0.
    static readonly string[] ReadmeHypotheses = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
    static readonly string[][] ReadmeReferences =
    [
        ["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
        ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
    ];

    [Fact]
    public void MatchesSacreBleusReadmeExample()
    {
        Assert.Equal(48.530827, Bleu.Corpus(ReadmeHypotheses, ReadmeReferences).Score, 1e-6);
        Assert.Equal(0.0, Bleu.Corpus(["", "", ""], ReadmeReferences).Score);
    }

    [Fact]
    public void MatchesSacreBleusStatisticsAndScoringCases()
    {
        // test_case_statistics: counts [4, 2, 1, 0], totals [6, 5, 4, 3].
        var stats = Bleu.Corpus(["am I am a character sequence"], ["I am a symbol string sequence a a"]);
        Assert.Equal([4L, 2, 1, 0], stats.Correct);
        Assert.Equal([6L, 5, 4, 3], stats.Total);
        // test_case_scoring: compute_bleu([9, 7, 5, 3], [10, 8, 6, 4], 11, 11) = 0.8375922397 (no zero counts, so
        // smoothing does not enter).
        Assert.Equal(83.75922397, Bleu.FromStatistics([9, 7, 5, 3], [10, 8, 6, 4], 11, 11).Score, 1e-7);
    }
}

public class ChrFTests
{
    // sacreBLEU's test/test_chrf.py (github.com/mjpost/sacrebleu), test_cases_effective_order: char order 6, β = 3,
    // effective-order averaging (the default eps_smoothing=False).
    [Theory]
    [InlineData(new[] { "a" }, new[] { "a" }, 100.0)]
    [InlineData(new[] { "" }, new[] { "reference" }, 0.0)]
    [InlineData(new[] { "a b c" }, new[] { "a b c" }, 100.0)]
    [InlineData(new[] { "a b c" }, new[] { "abc" }, 100.0)]
    [InlineData(new[] { "" }, new[] { "c" }, 0.0)]
    [InlineData(new[] { "a", "b" }, new[] { "a", "c" }, 50.0)]
    [InlineData(new[] { "aa" }, new[] { "ab" }, 25.0)]
    public void MatchesSacreBleusEffectiveOrderCases(string[] hypotheses, string[] references, double expected) =>
        Assert.Equal(expected, ChrF.Corpus(hypotheses, references, beta: 3), 1e-4);

    // test_chrf.py, test_sentence_level_chrf: sentence_chrf with eps_smoothing=True and the default β = 2.
    [Theory]
    [InlineData("Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
        "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře.", 39.14078509)]
    [InlineData("Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
        "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři.", 31.22557079)]
    [InlineData("Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
        "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli.", 57.15704367)]
    public void MatchesSacreBleusSentenceLevelCases(string hypothesis, string reference, double expected) =>
        Assert.Equal(expected, ChrF.Sentence(hypothesis, reference, epsSmoothing: true), 1e-4);

    // test_chrf.py, test_cases (eps_smoothing=True, β = 3).
    [Theory]
    [InlineData("aa", "ab", 8.3333)]
    [InlineData("a", "a", 16.6667)]
    [InlineData("a b c", "a b c", 50.0)]
    [InlineData(" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
        "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists .", 63.361730)]
    [InlineData(" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. ",
        "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.", 64.1302698)]
    public void MatchesSacreBleusEpsSmoothingCases(string hypothesis, string reference, double expected) =>
        Assert.Equal(expected, ChrF.Sentence(hypothesis, reference, beta: 3, epsSmoothing: true), 1e-4);

    [Fact]
    public void HandComputedDefaultScore()
    {
        // "abcd" vs "abce" (β = 2, orders with n-grams on both sides: 1–4): P = R = (3/4 + 2/3 + 1/2 + 0/1) / 4.
        double p = (3.0 / 4 + 2.0 / 3 + 1.0 / 2 + 0) / 4;
        Assert.Equal(100 * p, ChrF.Sentence("ab cd", "abce"), 1e-9);
        // Hypothesis "ab" vs "abc": orders 1–2; P = (1 + 1) / 2 = 1, R = (2/3 + 1/2) / 2 = 7/12; F2 = 5PR / (4P + R).
        double r = 7.0 / 12;
        Assert.Equal(100 * 5 * r / (4 + r), ChrF.Sentence("ab", "abc"), 1e-9);
    }
}
