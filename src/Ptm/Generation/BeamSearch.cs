using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>One finished hypothesis: its generated tokens (ending with the end-of-sequence id when it ended there), the
/// sum of their log-probabilities, and its score, that sum divided by <c>Tokens.Length^LengthPenalty</c>.</summary>
public sealed record BeamHypothesis(int[] Tokens, double LogProbability, double Score);

/// <summary>
/// Search algorithms over an <see cref="IStepDecoder"/>, so GPT and encoder–decoder models share them: batched beam
/// search with Hugging Face's semantics (<see cref="BeamSearchOptions"/>) and greedy decoding.
/// </summary>
/// <remarks>
/// Beam search, per batch item and step: every running beam's log-probabilities plus its running sum give
/// <c>NumBeams × V</c> candidates; the best <c>2·NumBeams</c> are read in order. A candidate ending in the
/// end-of-sequence id among the first <c>NumBeams</c> becomes a finished hypothesis (the list keeps the
/// <c>NumBeams</c> best by length-normalised score); the first <c>NumBeams</c> other candidates are the next running
/// beams. The item stops by <see cref="BeamSearchOptions.EarlyStopping"/>; at the length limit its running beams join
/// the finished list. Beams that cannot exist yet (at the first step only one per item is real) carry −∞ and never
/// finish.
/// </remarks>
public static class BeamSearch
{
    /// <summary>
    /// Beam search for every row of <paramref name="decoder"/> (one row per batch item; the decoder must not have
    /// started). Returns, per batch item, the <see cref="BeamSearchOptions.NumReturnSequences"/> best finished
    /// hypotheses, best first (fewer only if fewer ever existed). <paramref name="prefixes"/>, one per row, are the
    /// tokens each row already holds (a GPT's prompt), for <see cref="BeamSearchOptions.NoRepeatNgramSize"/>.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<BeamHypothesis>> Run(IStepDecoder decoder, BeamSearchOptions options,
        IReadOnlyList<int[]>? prefixes = null, CancellationToken cancellation = default)
    {
        options.Validate();
        int batch = checked((int)decoder.Rows);
        if (prefixes is not null && prefixes.Count != batch)
            throw new ArgumentException($"{prefixes.Count} prefixes for {batch} rows", nameof(prefixes));
        int K = options.NumBeams, V = decoder.VocabSize, rows = batch * K;
        int eos = options.EosTokenId ?? -1;
        long pad = options.PadTokenId ?? options.EosTokenId ?? 0;
        var finished = Enumerable.Range(0, batch).Select(_ => new FinishedHypotheses(K, options.LengthPenalty)).ToArray();
        var done = new bool[batch];
        var sequences = new List<int>[rows];
        var sums = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            sequences[r] = [];
            sums[r] = r % K == 0 ? 0 : double.NegativeInfinity;     // one real beam per item at the start
        }
        if (options.MaxNewTokens == 0) return Enumerable.Range(0, batch).Select(_ => (IReadOnlyList<BeamHypothesis>)[]).ToArray();

        Tensor logProbs;                                                    // (B·K, V), replaced every step
        int limit;
        using (NewDisposeScope())
        {
            var first = decoder.Start();                                    // (B, V)
            limit = Math.Min(options.MaxNewTokens, decoder.RemainingCapacity + 1);
            var expand = arange(batch, ScalarType.Int64).repeat_interleave(K); // (B·K)
            decoder.Reorder(expand);
            logProbs = first.index_select(0, expand.to(first.device)).DetachFromDisposeScope();
        }
        int take = Math.Min(2 * K, K * V);
        try
        {
            for (int step = 1; ; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                var current = options.NoRepeatNgramSize > 0 ? BanRepeatedNgrams(logProbs, sequences, prefixes, K, options.NoRepeatNgramSize) : logProbs;
                var running = tensor(sums.Select(s => (float)s).ToArray(), ScalarType.Float32).to(current.device);
                var candidates = (current + running.unsqueeze(1)).view(batch, K * V);      // (B, K·V)
                var (values, indices) = candidates.topk(take, dim: 1, largest: true, sorted: true); // (B, 2K)
                float[] scores = values.cpu().data<float>().ToArray();
                long[] flat = indices.cpu().data<long>().ToArray();

                var source = new long[rows];
                var tokens = new long[rows];
                var nextSums = new double[rows];
                for (int b = 0; b < batch; b++)
                {
                    if (done[b])
                    {
                        for (int k = 0; k < K; k++) (source[b * K + k], tokens[b * K + k], nextSums[b * K + k]) = (b * K, pad, double.NegativeInfinity);
                        continue;
                    }
                    int kept = 0;
                    for (int rank = 0; rank < take && kept < K; rank++)
                    {
                        double score = scores[b * take + rank];
                        int from = b * K + (int)(flat[b * take + rank] / V);
                        int token = (int)(flat[b * take + rank] % V);
                        if (token == eos)
                        {
                            // An ended candidate counts only if it ranks among the best NumBeams; an impossible one never.
                            if (rank >= K || double.IsNegativeInfinity(score)) continue;
                            finished[b].Add([.. sequences[from], token], score);
                        }
                        else
                        {
                            (source[b * K + kept], tokens[b * K + kept], nextSums[b * K + kept]) = (from, token, score);
                            kept++;
                        }
                    }
                    for (; kept < K; kept++) (source[b * K + kept], tokens[b * K + kept], nextSums[b * K + kept]) = (b * K, pad, double.NegativeInfinity);
                    done[b] = finished[b].IsDone(scores[b * take], step, options.EarlyStopping, limit);
                }
                var nextSequences = new List<int>[rows];
                for (int r = 0; r < rows; r++) nextSequences[r] = [.. sequences[source[r]], (int)tokens[r]];
                sequences = nextSequences;
                sums = nextSums;
                if (done.All(d => d) || step >= limit) break;
                decoder.Reorder(tensor(source, ScalarType.Int64));
                var next = decoder.Step(tensor(tokens, ScalarType.Int64)).DetachFromDisposeScope();
                logProbs.Dispose();
                logProbs = next;
            }
        }
        finally { logProbs.Dispose(); }
        for (int b = 0; b < batch; b++)
        {
            if (done[b]) continue;
            for (int k = 0; k < K; k++)
                if (!double.IsNegativeInfinity(sums[b * K + k])) finished[b].Add([.. sequences[b * K + k]], sums[b * K + k]);
        }
        return finished.Select(f => (IReadOnlyList<BeamHypothesis>)f.Best(options.NumReturnSequences)).ToArray();
    }

    /// <summary>
    /// Greedy decoding of every row of <paramref name="decoder"/> (not started): the most likely token each step, up to
    /// <paramref name="maxNewTokens"/> or the context's end; a row ends after <paramref name="eosTokenId"/> (kept as its
    /// last token), and decoding stops once every row has ended. Returns each row's generated tokens.
    /// </summary>
    public static int[][] Greedy(IStepDecoder decoder, int maxNewTokens, int? eosTokenId = null, CancellationToken cancellation = default)
    {
        if (maxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(maxNewTokens), maxNewTokens, "must be non-negative");
        int batch = checked((int)decoder.Rows);
        var outputs = Enumerable.Range(0, batch).Select(_ => new List<int>()).ToArray();
        if (maxNewTokens == 0) return outputs.Select(o => o.ToArray()).ToArray();
        var ended = new bool[batch];
        var logProbs = decoder.Start().DetachFromDisposeScope();           // (B, V), replaced every step
        int limit = Math.Min(maxNewTokens, decoder.RemainingCapacity + 1);
        try
        {
            for (int step = 1; ; step++)
            {
                cancellation.ThrowIfCancellationRequested();
                using var stepScope = NewDisposeScope();
                var next = logProbs.argmax(-1).cpu();                              // (B)
                long[] ids = next.data<long>().ToArray();
                for (int b = 0; b < batch; b++)
                {
                    if (ended[b]) { ids[b] = eosTokenId ?? 0; continue; }
                    outputs[b].Add((int)ids[b]);
                    ended[b] = ids[b] == eosTokenId;
                }
                if (ended.All(e => e) || step >= limit) break;
                var following = decoder.Step(tensor(ids, ScalarType.Int64)).DetachFromDisposeScope();
                logProbs.Dispose();
                logProbs = following;
            }
        }
        finally { logProbs.Dispose(); }
        return outputs.Select(o => o.ToArray()).ToArray();
    }

    /// <summary>HF's <c>no_repeat_ngram_size</c>: for each row, every token that would complete an n-gram already in the
    /// row's tokens (prefix and generated) gets −∞.</summary>
    static Tensor BanRepeatedNgrams(Tensor logProbs, List<int>[] sequences, IReadOnlyList<int[]>? prefixes, int beams, int n)
    {
        long vocab = logProbs.size(1);
        var banned = new List<long>();
        for (int r = 0; r < sequences.Length; r++)
        {
            int[] prefix = prefixes?[r / beams] ?? [];
            int length = prefix.Length + sequences[r].Count;
            if (length + 1 < n) continue;
            int At(int i) => i < prefix.Length ? prefix[i] : sequences[r][i - prefix.Length];
            // The last n-1 tokens; every earlier occurrence of them bans the token that followed.
            for (int start = 0; start + n - 1 < length; start++)
            {
                bool match = true;
                for (int j = 0; j < n - 1 && match; j++) match = At(start + j) == At(length - n + 1 + j);
                if (match) banned.Add(r * vocab + At(start + n - 1));
            }
        }
        if (banned.Count == 0) return logProbs;
        var index = tensor(banned.ToArray(), ScalarType.Int64).to(logProbs.device);
        return logProbs.reshape(-1).index_fill(0, index, double.NegativeInfinity).view(logProbs.shape);
    }

    /// <summary>The best finished hypotheses of one batch item (HF's <c>BeamHypotheses</c>).</summary>
    sealed class FinishedHypotheses(int beams, double lengthPenalty)
    {
        readonly List<BeamHypothesis> kept = [];
        double worst = double.PositiveInfinity;

        public void Add(int[] tokens, double logProbability)
        {
            double score = logProbability / Math.Pow(tokens.Length, lengthPenalty);
            if (kept.Count >= beams && score <= worst) return;
            kept.Add(new BeamHypothesis(tokens, logProbability, score));
            if (kept.Count > beams)
            {
                int worstAt = 0;
                for (int i = 1; i < kept.Count; i++) if (kept[i].Score < kept[worstAt].Score) worstAt = i;
                kept.RemoveAt(worstAt);
                worst = kept.Min(h => h.Score);
            }
            else worst = Math.Min(worst, score);
        }

        /// <summary>Whether nothing still running can enter the list: <paramref name="bestRunning"/> is the best
        /// candidate's log-probability sum at <paramref name="length"/> generated tokens.</summary>
        public bool IsDone(double bestRunning, int length, BeamStopping stopping, int maxLength)
        {
            if (kept.Count < beams) return false;
            if (stopping == BeamStopping.Early) return true;
            int denominator = stopping == BeamStopping.Never && lengthPenalty > 0 ? maxLength : length;
            return worst >= bestRunning / Math.Pow(denominator, lengthPenalty);
        }

        public BeamHypothesis[] Best(int count) =>
            kept.OrderByDescending(h => h.Score).Take(count).ToArray();
    }
}
