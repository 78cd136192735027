namespace Ptm.Tokenization;

// Building BERT's model inputs from one or two texts: special tokens, segment ids, truncation and padding.
public sealed partial class WordPieceTokenizer
{
    /// <summary>
    /// Learns a WordPiece vocabulary of <paramref name="vocabSize"/> tokens from <paramref name="texts"/> (see
    /// <see cref="WordPieceTrainer"/>): the 5 special tokens, every character seen (plain and "##"), then merges.
    /// </summary>
    /// <exception cref="ArgumentException">vocabSize cannot hold the special tokens and the alphabet.</exception>
    /// <exception cref="InvalidInputException">The texts contain no words.</exception>
    public static WordPieceTokenizer Train(IEnumerable<string> texts, int vocabSize, bool doLowerCase = true) =>
        WordPieceTrainer.Train(texts, vocabSize, doLowerCase);

    /// <summary>
    /// Encodes <c>[CLS] A [SEP]</c>, or <c>[CLS] A [SEP] B [SEP]</c> when <paramref name="b"/> is given, in at most
    /// <paramref name="maxLength"/> tokens (special tokens included), truncating by <paramref name="strategy"/> and,
    /// if <paramref name="padToMaxLength"/>, padding with [PAD] (attention mask 0) to exactly maxLength.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">maxLength cannot even hold the special tokens.</exception>
    /// <exception cref="InvalidInputException">The input is too long and the strategy cannot (or may not) shorten it enough.</exception>
    public BertEncoding EncodePair(string a, string? b, int maxLength, TruncationStrategy strategy = TruncationStrategy.LongestFirst,
        bool padToMaxLength = false)
    {
        ArgumentNullException.ThrowIfNull(a);
        int specials = b is null ? 2 : 3;
        if (maxLength < specials)
            throw new ArgumentOutOfRangeException(nameof(maxLength), $"maxLength {maxLength} cannot hold the {specials} special tokens");

        var (idsA, offsetsA) = EncodeWithOffsets(a);
        var (idsB, offsetsB) = b is null ? (Array.Empty<int>(), Array.Empty<CharSpan>()) : EncodeWithOffsets(b);
        var (keepA, keepB) = Truncate(idsA.Length, idsB.Length, maxLength - specials, strategy, b is not null);
        int truncated = idsA.Length - keepA + idsB.Length - keepB;

        int length = specials + keepA + keepB;
        int total = padToMaxLength ? maxLength : length;
        var inputIds = new int[total];
        var typeIds = new int[total];
        var mask = new int[total];
        var offsets = new CharSpan[total];
        var special = new bool[total];

        int at = 0;
        void Add(int id, int type, CharSpan span, bool isSpecial)
        {
            inputIds[at] = id; typeIds[at] = type; mask[at] = 1; offsets[at] = span; special[at] = isSpecial;
            at++;
        }
        Add(ClsId, 0, default, true);
        for (int i = 0; i < keepA; i++) Add(idsA[i], 0, offsetsA[i], false);
        Add(SepId, 0, default, true);
        if (b is not null)
        {
            for (int i = 0; i < keepB; i++) Add(idsB[i], 1, offsetsB[i], false);
            Add(SepId, 1, default, true);
        }
        for (; at < total; at++)
        {
            inputIds[at] = PadId;
            special[at] = true;
        }
        return new BertEncoding(inputIds, typeIds, mask, offsets, special, truncated);
    }

    /// <summary>How many tokens of each sequence to keep so that together they fit <paramref name="budget"/>.</summary>
    static (int KeepA, int KeepB) Truncate(int lengthA, int lengthB, int budget, TruncationStrategy strategy, bool hasB)
    {
        int excess = lengthA + lengthB - budget;
        if (excess <= 0) return (lengthA, lengthB);
        string what = hasB ? $"the pair has {lengthA} + {lengthB} tokens" : $"the text has {lengthA} tokens";
        switch (strategy)
        {
            case TruncationStrategy.LongestFirst:
                // Google BERT's _truncate_seq_pair: pop from the longer sequence, from B when they are equal.
                int a = lengthA, b = lengthB;
                while (a + b > budget)
                {
                    if (a > b) a--;
                    else b--;
                }
                return (a, b);
            case TruncationStrategy.OnlyFirst:
                if (lengthA >= excess) return (lengthA - excess, lengthB);
                throw new InvalidInputException(
                    $"{what} but only {budget} fit besides the special tokens; truncating only the first sequence cannot make it fit");
            case TruncationStrategy.OnlySecond:
                if (hasB && lengthB >= excess) return (lengthA, lengthB - excess);
                throw new InvalidInputException(
                    $"{what} but only {budget} fit besides the special tokens; truncating only the second sequence cannot make it fit");
            case TruncationStrategy.None:
                throw new InvalidInputException($"{what} but only {budget} fit besides the special tokens, and truncation is off");
            default:
                throw new ArgumentOutOfRangeException(nameof(strategy), strategy, "unknown truncation strategy");
        }
    }
}
