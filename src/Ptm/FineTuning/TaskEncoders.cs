using Ptm.Tokenization;

namespace Ptm.FineTuning;

/// <summary>
/// One example as model input: K token sequences (1 for classify/pair, 2 for GPT similarity, one per choice),
/// their segment ids (BERT), and the label as a class id or a float score.
/// </summary>
public sealed record EncodedExample(int[][] Sequences, int[][] TypeIds, int Class, float Score, bool Truncated)
{
    /// <summary>Tagging: a label id per token of the one sequence, -100 where no loss is taken (special tokens and
    /// every word-piece but a word's first).</summary>
    public int[]? TokenLabels { get; init; }

    /// <summary>Tagging: the token position of each word's first piece, -1 for a word that was truncated away or
    /// has no pieces.</summary>
    public int[]? WordFirstTokens { get; init; }

    /// <summary>Span QA: this window's answer positions and the way back to the context's characters.</summary>
    public SpanWindow? Window { get; init; }
}

/// <summary>Turns a task example into model inputs for one model family.</summary>
public interface ITaskEncoder
{
    /// <summary>Most tokens one sequence may have (the model's context, or less).</summary>
    int MaxLength { get; }

    /// <summary>Id used to pad sequences to a common length.</summary>
    int PadId { get; }

    /// <summary>The token sequences of an example, truncated to <see cref="MaxLength"/> (longest part first).</summary>
    (int[][] Sequences, int[][] TypeIds, bool Truncated) Encode(FineTuneTask task, TaskExample example);
}

/// <summary>
/// GPT-1's traversal-style input transformations (Radford et al. 2018, §3.3, Figure 1):
/// classification <c>[start] text [extract]</c>; entailment <c>[start] premise [delim] hypothesis [extract]</c>;
/// similarity both orders <c>[start] A [delim] B [extract]</c> and <c>[start] B [delim] A [extract]</c>;
/// multiple choice <c>[start] context [delim] answer_k [extract]</c> for every answer.
/// </summary>
public sealed class GptTaskEncoder(ByteLevelBpeTokenizer tokenizer, GptTaskTokens tokens, int maxLength) : ITaskEncoder
{
    /// <inheritdoc />
    public int MaxLength => maxLength;
    /// <inheritdoc />
    public int PadId => 0;   // causal attention: tokens after the extract token never reach it
    /// <summary>The ids of the start, delimiter and extract tokens.</summary>
    public GptTaskTokens Tokens => tokens;
    /// <summary>The tokenizer, with the task tokens among its special tokens.</summary>
    public ByteLevelBpeTokenizer Tokenizer => tokenizer;

    /// <inheritdoc />
    public (int[][] Sequences, int[][] TypeIds, bool Truncated) Encode(FineTuneTask task, TaskExample example)
    {
        int[] a = tokenizer.Encode(example.Text);
        bool truncated = false;
        int[][] sequences = task switch
        {
            FineTuneTask.Classify => [Single(a, ref truncated)],
            FineTuneTask.Pair => [Pair(a, tokenizer.Encode(example.TextPair!), ref truncated)],
            FineTuneTask.Similarity => SimilarityBoth(a, tokenizer.Encode(example.TextPair!), ref truncated),
            FineTuneTask.Choice => example.Choices!.Select(c => Pair(a, tokenizer.Encode(c), ref truncated)).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(task)),
        };
        return (sequences, sequences.Select(s => new int[s.Length]).ToArray(), truncated);
    }

    int[][] SimilarityBoth(int[] a, int[] b, ref bool truncated) => [Pair(a, b, ref truncated), Pair(b, a, ref truncated)];

    int[] Single(int[] text, ref bool truncated)
    {
        int keep = Math.Min(text.Length, maxLength - 2);
        truncated |= keep < text.Length;
        return [tokens.Start, .. text.AsSpan(0, keep), tokens.Extract];
    }

    int[] Pair(int[] a, int[] b, ref bool truncated)
    {
        var (keepA, keepB) = TaskTruncation.LongestFirst(a.Length, b.Length, maxLength - 3);
        truncated |= keepA < a.Length || keepB < b.Length;
        return [tokens.Start, .. a.AsSpan(0, keepA), tokens.Delimiter, .. b.AsSpan(0, keepB), tokens.Extract];
    }
}

/// <summary>
/// BERT's inputs (Devlin et al. 2018, §3): <c>[CLS] text [SEP]</c>, or <c>[CLS] A [SEP] B [SEP]</c> with segment ids
/// 0 then 1 for pairs and similarity (one order: BERT reads both directions at once), and
/// <c>[CLS] context [SEP] choice [SEP]</c> per choice.
/// </summary>
public sealed class BertTaskEncoder(WordPieceTokenizer tokenizer, int maxLength) : ITaskEncoder
{
    /// <inheritdoc />
    public int MaxLength => maxLength;
    /// <summary>The tokenizer, which supplies [CLS], [SEP] and [PAD].</summary>
    public WordPieceTokenizer Tokenizer => tokenizer;
    /// <inheritdoc />
    public int PadId => tokenizer.PadId;

    /// <inheritdoc />
    public (int[][] Sequences, int[][] TypeIds, bool Truncated) Encode(FineTuneTask task, TaskExample example)
    {
        var encodings = task switch
        {
            FineTuneTask.Classify => [tokenizer.EncodePair(example.Text, null, maxLength)],
            FineTuneTask.Pair or FineTuneTask.Similarity => [tokenizer.EncodePair(example.Text, example.TextPair!, maxLength)],
            FineTuneTask.Choice => example.Choices!.Select(c => tokenizer.EncodePair(example.Text, c, maxLength)).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(task)),
        };
        return (encodings.Select(e => e.InputIds).ToArray(), encodings.Select(e => e.TokenTypeIds).ToArray(), encodings.Any(e => e.IsTruncated));
    }
}

static class TaskTruncation
{
    /// <summary>Google BERT's _truncate_seq_pair rule: drop from the longer part (the second on a tie) until both fit.</summary>
    public static (int KeepA, int KeepB) LongestFirst(int a, int b, int budget)
    {
        if (budget < 0) throw new InvalidInputException($"the context cannot even hold the special tokens");
        while (a + b > budget)
        {
            if (a > b) a--;
            else b--;
        }
        return (a, b);
    }
}
