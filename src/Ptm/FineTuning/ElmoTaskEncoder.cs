using Ptm.Modeling;

namespace Ptm.FineTuning;

/// <summary>
/// ELMo's task inputs: each sentence as <c>&lt;S&gt; w1 … wn &lt;/S&gt;</c> (<see cref="ElmoVocabulary.SplitWords"/>),
/// every word as its <see cref="ElmoConfig.MaxCharactersPerToken"/> character ids, flattened into one id sequence per
/// example. A pair (or similarity) is both sentences one after the other, the second with segment id 1, read by the
/// biLM as two consecutive sentences. Classify, pair and similarity only.
/// </summary>
public sealed class ElmoTaskEncoder(int maxWords, int charactersPerWord) : ITaskEncoder
{
    /// <summary>The default number of words per sequence (sentence markers included) when none is asked for.</summary>
    public const int DefaultMaxWords = 128;

    /// <summary>Most words per sequence, sentence markers included.</summary>
    public int MaxLength => maxWords;

    /// <summary>Character padding (id 0); a padded word is all padding and masked out.</summary>
    public int PadId => ElmoVocabulary.PaddingChar;

    /// <summary>Character ids per word.</summary>
    public int CharactersPerWord => charactersPerWord;

    /// <inheritdoc />
    public (int[][] Sequences, int[][] TypeIds, bool Truncated) Encode(FineTuneTask task, TaskExample example)
    {
        string[] a = Words(example.Text);
        List<(string Word, int Segment)> sequence;
        bool truncated;
        switch (task)
        {
            case FineTuneTask.Classify:
                int keep = Math.Min(a.Length, maxWords - 2);
                truncated = keep < a.Length;
                sequence = [.. Sentence(a.AsSpan(0, keep), 0)];
                break;
            case FineTuneTask.Pair or FineTuneTask.Similarity:
                string[] b = Words(example.TextPair!);
                var (keepA, keepB) = TaskTruncation.LongestFirst(a.Length, b.Length, maxWords - 4);
                truncated = keepA < a.Length || keepB < b.Length;
                sequence = [.. Sentence(a.AsSpan(0, keepA), 0), .. Sentence(b.AsSpan(0, keepB), 1)];
                break;
            default:
                throw new InvalidInputException($"ELMo fine-tuning supports the classify, pair and similarity tasks (got {FineTuneTasks.Name(task)})");
        }
        var ids = new int[sequence.Count * charactersPerWord];
        var types = new int[ids.Length];
        for (int w = 0; w < sequence.Count; w++)
        {
            ElmoVocabulary.CharIds(sequence[w].Word, ids.AsSpan(w * charactersPerWord, charactersPerWord));
            types.AsSpan(w * charactersPerWord, charactersPerWord).Fill(sequence[w].Segment);
        }
        return ([ids], [types], truncated);
    }

    static string[] Words(string text) => ElmoVocabulary.SplitWords(text).Select(t => t.Text).ToArray();

    static IEnumerable<(string, int)> Sentence(ReadOnlySpan<string> words, int segment)
    {
        var list = new List<(string, int)>(words.Length + 2) { (ElmoVocabulary.BeginSentence, segment) };
        foreach (string w in words) list.Add((w, segment));
        list.Add((ElmoVocabulary.EndSentence, segment));
        return list;
    }
}
