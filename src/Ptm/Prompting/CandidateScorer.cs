using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Prompting;

/// <summary>
/// Log-probabilities of candidate continuations under a GPT, with a shared prefix computed once. <see cref="SetPrefix"/>
/// runs the prefix (instructions and demonstrations) into a one-row KV cache; <see cref="Score"/> copies that cache,
/// appends the query's tokens once, then copies the result into one row per candidate and scores all candidates in a
/// single batched forward pass (right-padded: the padding comes after every scored position, so causal attention never
/// sees it). The numbers equal those of a plain forward pass over prefix + query + candidate (tested to 1e-5).
/// The model is borrowed and must be in eval mode; the scorer owns its caches (dispose it; create it outside a dispose
/// scope, which would otherwise free the caches with the scope).
/// </summary>
public sealed class CandidateScorer : IDisposable
{
    readonly Gpt model;
    readonly KvCache prefixCache;
    readonly KvCache queryCache;
    readonly Dictionary<int, KvCache> candidateCaches = [];
    Tensor? prefixLastLogProbs;                   // (V): the next-token distribution after the prefix

    /// <summary>A scorer over <paramref name="model"/> (borrowed).</summary>
    public CandidateScorer(Gpt model)
    {
        this.model = model;
        prefixCache = model.NewCache(1);
        queryCache = model.NewCache(1);
    }

    /// <summary>Token ids of the current prefix.</summary>
    public IReadOnlyList<int> Prefix { get; private set; } = [];

    /// <summary>How many forward passes over the prefix this scorer has made (one per <see cref="SetPrefix"/> with new ids).</summary>
    public int PrefixPasses { get; private set; }

    /// <summary>Runs <paramref name="ids"/> once; later <see cref="Score"/> calls continue them. The same ids again cost nothing.</summary>
    public void SetPrefix(IReadOnlyList<int> ids)
    {
        if (ids.SequenceEqual(Prefix) && (ids.Count == 0 || prefixLastLogProbs is not null)) return;
        Prefix = ids.ToArray();
        prefixCache.Reset();
        prefixLastLogProbs?.Dispose();
        prefixLastLogProbs = null;
        if (ids.Count == 0) return;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var logits = model.NextTokenLogits(Ids(ids), prefixCache);          // (1, V)
        prefixLastLogProbs = logits[0].to_type(ScalarType.Float32).log_softmax(-1).DetachFromDisposeScope();
        PrefixPasses++;
    }

    /// <summary>
    /// The log-probability of every token of every candidate given prefix + <paramref name="query"/>: one array per
    /// candidate, in order. Candidates must be non-empty; prefix and query together must be too (the first candidate
    /// token needs a position to be predicted from).
    /// </summary>
    /// <exception cref="InvalidInputException">An empty candidate, nothing to condition on, or more positions than the context.</exception>
    public double[][] Score(IReadOnlyList<int> query, IReadOnlyList<int[]> candidates)
    {
        if (candidates.Count == 0) throw new InvalidInputException("prompt scoring: no candidates");
        if (candidates.Any(c => c.Length == 0)) throw new InvalidInputException("prompt scoring: a candidate has no tokens");
        if (Prefix.Count + query.Count == 0) throw new InvalidInputException("prompt scoring: the prompt before the answer is empty and the tokenizer has no <|endoftext|> to start from");
        int longest = candidates.Max(c => c.Length);
        if (Prefix.Count + query.Count + longest > model.Config.NPositions)
            throw new InvalidInputException($"prompt scoring: {Prefix.Count} prefix + {query.Count} query + {longest} candidate tokens exceed the context (n_positions = {model.Config.NPositions})");
        int B = candidates.Count, T = longest - 1;
        var cache = longest > 1 ? CandidateCache(B) : null;                 // outside the scope: the cache outlives this call
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        Tensor first;                                                        // (V) log-probs of the candidates' first token
        queryCache.CopyPrefixFrom(prefixCache);
        if (query.Count > 0) first = model.NextTokenLogits(Ids(query), queryCache)[0].to_type(ScalarType.Float32).log_softmax(-1);
        else first = prefixLastLogProbs!;
        var firstValues = first.data<float>().ToArray();
        var result = candidates.Select(c => new double[c.Length]).ToArray();
        for (int b = 0; b < candidates.Count; b++) result[b][0] = firstValues[candidates[b][0]];
        if (longest == 1) return result;

        cache!.CopyPrefixFrom(queryCache);
        var input = new long[B * T];
        var target = new long[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                var c = candidates[b];
                input[b * T + t] = t < c.Length - 1 ? c[t] : 0;                 // right padding, never scored
                target[b * T + t] = t + 1 < c.Length ? c[t + 1] : 0;
            }
        var logits = model.Forward(tensor(input, B, T), cache);            // (B, T, V)
        var logProbs = logits.to_type(ScalarType.Float32).log_softmax(-1)
            .gather(2, tensor(target, B, T).unsqueeze(2)).squeeze(2);       // (B, T)
        var values = logProbs.data<float>().ToArray();
        for (int b = 0; b < B; b++)
            for (int t = 1; t < candidates[b].Length; t++) result[b][t] = values[b * T + t - 1];
        return result;
    }

    /// <summary>
    /// Greedy continuation of prefix + <paramref name="query"/>: up to <paramref name="maxTokens"/> argmax tokens,
    /// stopping before the first token <paramref name="stop"/> accepts or at the end of the context.
    /// </summary>
    public List<int> Greedy(IReadOnlyList<int> query, int maxTokens, Func<int, bool> stop)
    {
        if (Prefix.Count + query.Count == 0) throw new InvalidInputException("prompt generation: the prompt is empty and the tokenizer has no <|endoftext|> to start from");
        using var _ = no_grad();
        var produced = new List<int>();
        queryCache.CopyPrefixFrom(prefixCache);
        using (var scope = NewDisposeScope())
        {
            var logits = query.Count > 0 ? model.NextTokenLogits(Ids(query), queryCache)[0] : prefixLastLogProbs!;
            int next = (int)logits.argmax().item<long>();
            while (produced.Count < maxTokens && !stop(next))
            {
                produced.Add(next);
                if (queryCache.Length + 1 > model.Config.NPositions || produced.Count == maxTokens) break;
                using var step = NewDisposeScope();
                next = (int)model.NextTokenLogits(Ids([next]), queryCache)[0].argmax().item<long>();
            }
        }
        return produced;
    }

    KvCache CandidateCache(int batch)
    {
        if (!candidateCaches.TryGetValue(batch, out var cache)) candidateCaches[batch] = cache = model.NewCache(batch);
        cache.Reset();
        return cache;
    }

    static Tensor Ids(IReadOnlyList<int> ids) => tensor(ids.Select(i => (long)i).ToArray(), 1, ids.Count);

    /// <summary>Frees the caches.</summary>
    public void Dispose()
    {
        prefixCache.Dispose();
        queryCache.Dispose();
        foreach (var c in candidateCaches.Values) c.Dispose();
        prefixLastLogProbs?.Dispose();
    }
}
