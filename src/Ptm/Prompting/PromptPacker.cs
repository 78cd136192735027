using Ptm.Tokenization;

namespace Ptm.Prompting;

/// <summary>A prompt cut to fit the context: the shared prefix (&lt;|endoftext|&gt; and demonstrations) and the query.</summary>
/// <param name="Prefix">&lt;|endoftext|&gt; (when the tokenizer has one) and the demonstrations kept, each followed by the separator</param>
/// <param name="Query">the query up to the answer slot (trailing spaces moved to the answers)</param>
/// <param name="Demonstrations">how many demonstrations were kept</param>
/// <param name="QueryTruncated">whether a field of the query had to be cut</param>
public sealed record PackedPrompt(int[] Prefix, int[] Query, int Demonstrations, bool QueryTruncated);

/// <summary>
/// Packs demonstrations and a query into <c>n_positions</c> tokens, leaving room for the longest answer. The query is
/// never dropped: demonstrations go first, farthest from the query first; only when the query alone does not fit is
/// its longest field cut (from the left or the middle, <see cref="QueryTruncation"/>), token by token, until it does.
/// Pieces (each demonstration with its separator, the query, each answer) are tokenized separately and concatenated.
/// </summary>
public sealed class PromptPacker(ITokenizer tokenizer, PromptTemplate template, int contextLength, string separator, QueryTruncation truncation)
{
    /// <summary>The query text with its trailing spaces and tabs removed, and those removed characters: GPT-2's BPE
    /// attaches a space to the word after it, so <c>"Answer: "</c> + <c>"yes"</c> is scored as <c>"Answer:"</c> + <c>" yes"</c>.</summary>
    public static (string Query, string Carry) SplitTrailingSpace(string query)
    {
        string trimmed = query.TrimEnd(' ', '\t');
        return (trimmed, query[trimmed.Length..]);
    }

    /// <summary>The start of every prompt: &lt;|endoftext|&gt; when the tokenizer has one (GPT-2's practice), else nothing.</summary>
    public int[] Start => tokenizer.EndOfTextId is int eot ? [eot] : [];

    /// <summary>Packs <paramref name="demonstrations"/> (rendered, in order) and the query of <paramref name="fields"/>
    /// with <paramref name="reserve"/> positions left for the answer. <paramref name="queryRoom"/> keeps room for a
    /// query of that many tokens after the demonstrations even if this one is shorter (contextual calibration scores
    /// content-free queries after the same demonstrations).</summary>
    /// <exception cref="InvalidInputException">Even with every field of the query emptied, it does not fit.</exception>
    public PackedPrompt Pack(IReadOnlyList<string> demonstrations, IReadOnlyDictionary<string, string> fields, int reserve, string source, int queryRoom = 0)
    {
        int budget = contextLength - reserve - Start.Length;
        var query = EncodeQuery(fields);
        bool truncated = false;
        if (query.Length > budget)
        {
            var cut = new Dictionary<string, string>(fields);
            var lengths = template.Fields.ToDictionary(f => f, f => tokenizer.Encode(cut.GetValueOrDefault(f, "")).Length);
            while (query.Length > budget)
            {
                string field = template.Fields.OrderByDescending(f => lengths[f]).First();
                int[] ids = tokenizer.Encode(cut.GetValueOrDefault(field, ""));
                if (ids.Length == 0)
                    throw new InvalidInputException($"{source}: the prompt without its fields is {query.Length} tokens, more than the {budget} the context leaves (n_positions = {contextLength}, {reserve} for the answer)");
                int drop = Math.Min(ids.Length, query.Length - budget);
                cut[field] = Cut(ids, drop);
                while (tokenizer.Encode(cut[field]).Length >= ids.Length) cut[field] = Cut(ids, ++drop); // re-encoding can merge differently
                lengths[field] = tokenizer.Encode(cut[field]).Length;
                query = EncodeQuery(cut);
                truncated = true;
            }
        }
        var pieces = demonstrations.Select(d => tokenizer.Encode(d + separator)).ToList();
        int used = Math.Max(query.Length, queryRoom);
        int first = pieces.Count;                                       // keep demonstrations[first..], nearest the query
        while (first > 0 && used + pieces[first - 1].Length <= budget) used += pieces[--first].Length;
        int[] prefix = [.. Start, .. pieces.Skip(first).SelectMany(p => p)];
        return new PackedPrompt(prefix, query, pieces.Count - first, truncated);
    }

    string Cut(int[] ids, int drop)
    {
        int keep = ids.Length - drop;
        return truncation == QueryTruncation.Left ? tokenizer.Decode(ids.AsSpan(drop))
            : tokenizer.Decode(ids.AsSpan(0, keep / 2)) + tokenizer.Decode(ids.AsSpan(ids.Length - (keep - keep / 2)));
    }

    /// <summary>The query's token ids (its trailing spaces left to the answers).</summary>
    public int[] EncodeQuery(IReadOnlyDictionary<string, string> fields) =>
        tokenizer.Encode(SplitTrailingSpace(template.RenderQuery(fields)).Query);
}
