using Ptm.Tokenization;

namespace Ptm.Data;

/// <summary>Chooses and corrupts the masked-LM positions of one sequence; <see cref="MlmMasker"/> and <see cref="KnowledgeMasker"/>.</summary>
public interface IMlmMasker
{
    /// <summary>Chooses and corrupts positions of <paramref name="tokens"/> (a whole sequence, without padding), drawing from <paramref name="rng"/>.</summary>
    MlmMask Mask(ReadOnlySpan<int> tokens, ref SplitMix64 rng);
}

/// <summary>What one masked-LM choice covers (ERNIE 1.0's knowledge masking, Sun et al. 2019).</summary>
public enum MaskingUnit
{
    /// <summary>Any single token, as in the original BERT.</summary>
    Token,
    /// <summary>A word: a token and the "##" pieces that continue it.</summary>
    WholeWord,
    /// <summary>A multi-word expression of a <see cref="MaskingLexicon"/> built by <see cref="MaskingLexicon.Phrases"/>; other words alone.</summary>
    Phrase,
    /// <summary>A name span of a <see cref="MaskingLexicon"/> built by <see cref="MaskingLexicon.Entities"/>; other words alone.</summary>
    Entity,
}

/// <summary>
/// A set of multi-word units (phrases or names) as sequences of lower-cased words, matched greedily longest-first
/// from left to right. Built from raw text, so preparation and dynamic masking can share one unit definition.
/// </summary>
public sealed class MaskingLexicon
{
    static readonly BertBasicTokenizer CasedWords = new(lowerCase: false);

    readonly HashSet<string> entries = new(StringComparer.Ordinal);

    /// <summary>A lexicon of the given units, each a sequence of words (compared lower-cased).</summary>
    public MaskingLexicon(IEnumerable<IReadOnlyList<string>> units)
    {
        foreach (var u in units)
        {
            if (u.Count == 0) continue;
            entries.Add(Key(u.Select(w => w.ToLowerInvariant())));
            MaxLength = Math.Max(MaxLength, u.Count);
        }
    }

    /// <summary>Number of units.</summary>
    public int Count => entries.Count;

    /// <summary>Words in the longest unit.</summary>
    public int MaxLength { get; }

    /// <summary>The units, each as its words joined by single spaces, in ordinal order.</summary>
    public IReadOnlyList<string> Units => entries.Order(StringComparer.Ordinal).ToArray();

    static string Key(IEnumerable<string> words) => string.Join(' ', words);

    /// <summary>Writes the units, one per line, atomically.</summary>
    public void Save(string path) => IO.AtomicFile.WriteAllText(path, string.Concat(Units.Select(u => u + "\n")));

    /// <summary>Reads units written by <see cref="Save"/>: one per line, words separated by spaces; blank lines skipped.</summary>
    /// <exception cref="InvalidInputException">The file is missing.</exception>
    public static MaskingLexicon Read(string path)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such file (expected masking units, one per line)");
        return new MaskingLexicon(File.ReadAllLines(path).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Where(w => w.Length > 0));
    }

    /// <summary>Whether the words are a unit.</summary>
    public bool Contains(IEnumerable<string> words) => entries.Contains(Key(words.Select(w => w.ToLowerInvariant())));

    /// <summary>Spans (start, word count) of units in <paramref name="words"/>: at each position the longest unit
    /// starting there is taken and matching resumes after it; positions in no unit are not reported.</summary>
    public IReadOnlyList<(int Start, int Count)> Match(IReadOnlyList<string> words)
    {
        var spans = new List<(int, int)>();
        for (int i = 0; i < words.Count;)
        {
            int found = 0;
            for (int n = Math.Min(MaxLength, words.Count - i); n >= 1 && found == 0; n--)
                if (entries.Contains(Key(Enumerable.Range(i, n).Select(k => words[k].ToLowerInvariant())))) found = n;
            if (found > 0) { spans.Add((i, found)); i += found; }
            else i++;
        }
        return spans;
    }

    /// <summary>
    /// Frequent multi-word expressions: n-grams of 2..<paramref name="maxWords"/> words (within a line, of words with a
    /// letter or digit) seen at least <paramref name="minCount"/> times whose pointwise mutual information per joined
    /// word, log(p(w₁…wₙ) / Π p(wᵢ)) / (n − 1), is at least <paramref name="minPmi"/> nats, i.e. words that occur
    /// together far more often than chance ("burnt offering", "children of israel").
    /// </summary>
    public static MaskingLexicon Phrases(IEnumerable<string> lines, int minCount = 10, double minPmi = 4, int maxWords = 3)
    {
        if (minCount < 1) throw new InvalidOptionException(nameof(MaskingLexicon), "MinCount", "must be at least 1", minCount);
        if (maxWords < 2) throw new InvalidOptionException(nameof(MaskingLexicon), "MaxWords", "must be at least 2", maxWords);
        var unigrams = new Dictionary<string, long>(StringComparer.Ordinal);
        var ngrams = new Dictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        foreach (string line in lines)
        {
            string[] words = StaticVectors.WordCorpus.SplitWords(line).ToArray();
            total += words.Length;
            for (int i = 0; i < words.Length; i++)
            {
                unigrams[words[i]] = unigrams.GetValueOrDefault(words[i]) + 1;
                for (int n = 2; n <= maxWords && i + n <= words.Length; n++)
                {
                    string key = string.Join(' ', words, i, n);
                    ngrams[key] = ngrams.GetValueOrDefault(key) + 1;
                }
            }
        }
        var units = new List<string[]>();
        foreach (var (key, count) in ngrams)
        {
            if (count < minCount) continue;
            string[] words = key.Split(' ');
            // log p(ngram) − Σ log p(wᵢ), with p(x) = count / total for both, per word joined (n − 1), so a trigram
            // of two loosely associated pairs does not pass on the sum of two moderate scores.
            double pmi = (Math.Log((double)count / total) - words.Sum(w => Math.Log((double)unigrams[w] / total))) / (words.Length - 1);
            if (pmi >= minPmi) units.Add(words);
        }
        return new MaskingLexicon(units);
    }

    /// <summary>
    /// Name spans from capitalisation: a "name word" is a word of two or more letters that starts with a capital in at
    /// least <paramref name="minCapitalShare"/> of its occurrences away from a sentence start (where every word is
    /// capitalised), seen at least <paramref name="minCount"/> times; each maximal run of consecutive name words in the
    /// text ("Moses", "Mount Sinai", "Jesus Christ") is a unit, except that a name followed by an apostrophe (a
    /// possessive) starts a unit of its own ("Abigail Nabal's wife" gives "abigail" and "nabal"), and a run of several
    /// names must itself be seen at least <paramref name="minCount"/> times.
    /// </summary>
    public static MaskingLexicon Entities(IEnumerable<string> lines, int minCount = 3, double minCapitalShare = 0.9)
    {
        if (minCount < 1) throw new InvalidOptionException(nameof(MaskingLexicon), "MinCount", "must be at least 1", minCount);
        var tokenized = new List<string[]>();
        var capital = new Dictionary<string, long>(StringComparer.Ordinal);
        var inside = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string line in lines)
        {
            string[] tokens = CasedWords.Tokenize(line).Select(t => t.Text).ToArray();
            tokenized.Add(tokens);
            for (int i = 0; i < tokens.Length; i++)
            {
                if (!tokens[i].Any(char.IsLetter) || SentenceStart(tokens, i)) continue;
                string lower = tokens[i].ToLowerInvariant();
                inside[lower] = inside.GetValueOrDefault(lower) + 1;
                if (char.IsUpper(tokens[i][0])) capital[lower] = capital.GetValueOrDefault(lower) + 1;
            }
        }
        var names = new HashSet<string>(inside
            .Where(kv => kv.Key.Length >= 2 && kv.Value >= minCount && capital.GetValueOrDefault(kv.Key) >= minCapitalShare * kv.Value)
            .Select(kv => kv.Key), StringComparer.Ordinal);
        var runs = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string[] tokens in tokenized)
            for (int i = 0; i < tokens.Length;)
            {
                if (!IsName(tokens[i])) { i++; continue; }
                // "Abigail Nabal's wife": a possessive name starts a new unit (apposition, not one name).
                int end = i + 1;
                while (end < tokens.Length && IsName(tokens[end]) && !(end + 1 < tokens.Length && tokens[end + 1] == "'")) end++;
                string run = string.Join(' ', tokens[i..end].Select(t => t.ToLowerInvariant()));
                runs[run] = runs.GetValueOrDefault(run) + 1;
                i = end;
            }
        // A run of several names seen only once or twice is more likely two names side by side ("bare to Esau Jeush").
        return new MaskingLexicon(runs.Where(r => !r.Key.Contains(' ') || r.Value >= minCount).Select(r => r.Key.Split(' ')));

        bool IsName(string token) => char.IsUpper(token[0]) && names.Contains(token.ToLowerInvariant());
    }

    /// <summary>True at a line's first word and after . ? ! : ; (KJV capitalises after a colon or semicolon in speech).</summary>
    static bool SentenceStart(string[] tokens, int i)
    {
        for (int k = i - 1; k >= 0; k--)
        {
            string t = tokens[k];
            if (t.Any(char.IsLetterOrDigit)) return false;
            if (t is "." or "?" or "!" or ":" or ";") return true;
        }
        return true;
    }
}

/// <summary>
/// Masked-LM corruption over units larger than a token: words, phrases or names (ERNIE 1.0's basic, phrase and
/// entity masking). Units are found in the token ids themselves (WordPiece pieces joined into words, runs of words
/// matched against the encoded units of a <see cref="MaskingLexicon"/>), then <see cref="MlmMasker"/>'s rate and 80/10/10 corruption apply to
/// whole units: a unit is masked entirely or not at all, and the number of masked tokens stays at the masker's rate.
/// </summary>
public sealed class KnowledgeMasker : IMlmMasker
{
    /// <summary>The file in a prepared data folder that lists the multi-word units, one per line (words separated by spaces).</summary>
    public const string UnitsFile = "masking-units.txt";

    readonly MlmMasker masker;
    readonly IMaskingVocabulary vocab;
    readonly HashSet<string>? units;
    readonly int maxWords;

    /// <summary>A masker choosing <paramref name="unit"/>s; phrase and entity units need a <paramref name="lexicon"/>,
    /// whose units are encoded with <paramref name="vocab"/> once and then matched on token ids.</summary>
    /// <param name="vocab">Special and continuation ids, and the encoder for the lexicon's units.</param>
    /// <param name="options">Rate and per-sequence cap (its WholeWordMasking is ignored: <paramref name="unit"/> decides).</param>
    /// <param name="unit">What one choice covers.</param>
    /// <param name="lexicon">Multi-word units, for <see cref="MaskingUnit.Phrase"/> and <see cref="MaskingUnit.Entity"/>.</param>
    /// <exception cref="InvalidInputException">Phrase or entity masking without a lexicon, or options out of range.</exception>
    public KnowledgeMasker(IMaskingVocabulary vocab, MlmOptions options, MaskingUnit unit, MaskingLexicon? lexicon = null)
    {
        if (unit is MaskingUnit.Phrase or MaskingUnit.Entity && lexicon is null)
            throw new InvalidInputException($"{unit} masking needs a lexicon of multi-word units (MaskingLexicon.{(unit == MaskingUnit.Phrase ? "Phrases" : "Entities")})");
        masker = new MlmMasker(vocab, options with { WholeWordMasking = unit != MaskingUnit.Token });
        this.vocab = vocab;
        Unit = unit;
        if (unit is MaskingUnit.Phrase or MaskingUnit.Entity)
        {
            units = new HashSet<string>(StringComparer.Ordinal);
            foreach (string u in lexicon!.Units)
            {
                int[] ids = vocab.Encode(u);
                if (ids.Length > 0 && !ids.Any(vocab.IsSpecial)) units.Add(string.Join(',', ids));
            }
            maxWords = lexicon.MaxLength;
        }
    }

    /// <summary>What one choice covers.</summary>
    public MaskingUnit Unit { get; }

    /// <summary>
    /// The masker a prepared data folder asks for: <see cref="MlmOptions.Unit"/> phrase or entity reads the units
    /// from <see cref="UnitsFile"/> in <paramref name="dataDir"/>; other units need no lexicon.
    /// </summary>
    /// <exception cref="InvalidInputException">The units file is missing.</exception>
    public static IMlmMasker ForData(IMaskingVocabulary vocab, MlmOptions options, string dataDir)
    {
        if (options.Unit is not (MaskingUnit.Phrase or MaskingUnit.Entity)) return new MlmMasker(vocab, options);
        string path = Path.Combine(dataDir, UnitsFile);
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: missing (the data was prepared with {options.Unit} masking, whose units it lists)");
        return new KnowledgeMasker(vocab, options, options.Unit, MaskingLexicon.Read(path));
    }

    /// <summary>The units of <paramref name="tokens"/> as (first position, token count), in order, and the number of
    /// maskable (non-special) tokens. Special tokens belong to no unit; a unit never spans one.</summary>
    public (List<(int Start, int Count)> Units, int Candidates) Units(ReadOnlySpan<int> tokens)
    {
        var words = new List<(int Start, int Count)>();
        int candidates = 0;
        bool previousWasPiece = false;
        for (int i = 0; i < tokens.Length; i++)
        {
            int id = tokens[i];
            if (vocab.IsSpecial(id)) { previousWasPiece = false; words.Add((i, 0)); continue; } // a barrier
            candidates++;
            if (Unit != MaskingUnit.Token && previousWasPiece && vocab.IsContinuation(id)) words[^1] = (words[^1].Start, words[^1].Count + 1);
            else words.Add((i, 1));
            previousWasPiece = true;
        }
        if (units is null) return (words.Where(w => w.Count > 0).ToList(), candidates);

        // Longest lexicon unit first at each word, then continue after it; barriers (count 0) end every match.
        var result = new List<(int Start, int Count)>();
        var key = new System.Text.StringBuilder();
        for (int k = 0; k < words.Count;)
        {
            if (words[k].Count == 0) { k++; continue; }
            int found = 1;
            for (int n = Math.Min(maxWords, words.Count - k); n >= 2; n--)
            {
                if (words[k + n - 1].Count == 0 || Enumerable.Range(k, n).Any(j => words[j].Count == 0)) continue;
                int start = words[k].Start, end = words[k + n - 1].Start + words[k + n - 1].Count;
                key.Clear();
                for (int p = start; p < end; p++) key.Append(p == start ? "" : ",").Append(tokens[p]);
                if (units.Contains(key.ToString())) { found = n; break; }
            }
            if (found == 1)
            {
                // A one-word unit of the lexicon is a whole word anyway.
                result.Add(words[k]);
            }
            else result.Add((words[k].Start, words[k + found - 1].Start + words[k + found - 1].Count - words[k].Start));
            k += found;
        }
        return (result, candidates);
    }

    /// <summary>Chooses whole units of <paramref name="tokens"/> and corrupts them (see <see cref="MlmMasker"/>).</summary>
    public MlmMask Mask(ReadOnlySpan<int> tokens, ref SplitMix64 rng)
    {
        var (found, candidates) = Units(tokens);
        return masker.Choose(tokens, found, candidates, ref rng);
    }
}
