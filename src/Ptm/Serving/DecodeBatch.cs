using Ptm.Generation;
using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Serving;

/// <summary>
/// One request's row in a <see cref="DecodeBatch"/>: its tokens so far, its window start, where its window sits in the
/// batch's cache, and its own sampling state (options, random stream, seen-token mask for the repetition penalty).
/// </summary>
sealed class BatchRow(int[] prompt, GenerationOptions options, int logProbs) : IDisposable
{
    public readonly List<int> History = [.. prompt];
    public readonly GenerationOptions Options = options;
    public readonly int LogProbs = logProbs;
    public readonly torch.Generator Rng = new((ulong)options.Seed);
    public int Start;                      // history index held at the row's first window position
    public int Pad;                        // first cache column of the row's window (rows end at the same column)
    public Tensor? Seen;                   // (1, V) bool, only with a repetition penalty
    public bool Dead;                      // left the batch; fed until the next regrouping, its output ignored

    public void Dispose()
    {
        Seen?.Dispose();
        Rng.Dispose();
    }
}

/// <summary>What one step chose for one row: the id, and when asked its log-probability and the most likely ids.</summary>
readonly record struct RowChoice(int Id, float LogProbability, (int Id, float LogProbability)[]? Top);

/// <summary>
/// The decode batch under a <see cref="ModelScheduler"/>: rows join and leave between steps. The rows' windows sit in
/// one KV cache, right-aligned (left-padded) with per-row position ids and a key mask, so a row decodes as it would
/// alone (as in <see cref="BatchDecoder"/>). A step is one forward pass over the pending token of every row in the
/// cache, written in place. A new row, and a row whose window slides (at the token where a lone row's would), is
/// encoded alone into a one-row cache, exactly as a lone generation starts; its keys and values are then copied into
/// a regrouped batch cache beside the others', which costs copies, not a re-encoding of the running rows. A row that
/// leaves stays in the cache, unread, until the next regrouping (when rows join, or departed rows outnumber live
/// ones, or the cache is full). Every method runs on the scheduler's thread.
/// </summary>
sealed class DecodeBatch(Gpt model) : IDisposable
{
    readonly int context = model.Config.NPositions;
    readonly Device device = model.parameters().First().device;
    List<BatchRow> rows = [];              // the rows in the cache, in cache order (dead ones included)
    readonly List<BatchRow> joining = [];
    KvCache? cache;
    Tensor? positionColumns;               // (B, capacity) position id of each cache column, when rows are padded
    Tensor? realColumns;                   // (B, capacity) whether a cache column holds a real token, when padded
    int width;                             // cache columns in use

    /// <summary>Live rows (joined or joining, not yet left).</summary>
    public int LiveRows => rows.Count(r => !r.Dead) + joining.Count;

    /// <summary>Times the batch cache was regrouped (rows joined, windows slid, departed rows dropped).</summary>
    public long Regroupings { get; private set; }

    /// <summary>Adds a row; it takes part from the next step.</summary>
    public void Join(BatchRow row) => joining.Add(row);

    /// <summary>Marks a row as gone: it stops counting at once and is dropped at the next regrouping.</summary>
    public void Leave(BatchRow row)
    {
        if (joining.Remove(row)) { row.Dispose(); return; }
        row.Dead = true;
    }

    /// <summary>Advances every live row by one token and returns their choices (dead rows are left out).</summary>
    public IReadOnlyList<(BatchRow Row, RowChoice Choice)> Step()
    {
        // Rows encoded alone this step: new ones, and those whose window outgrew the context (restarting from their
        // last half context, as a lone row does).
        var encode = new List<BatchRow>(joining);
        joining.Clear();
        foreach (var row in rows)
            if (!row.Dead && row.History.Count - row.Start > context)
            {
                row.Start = row.History.Count - context / 2;
                encode.Add(row);
            }
        var stable = rows.Where(r => !r.Dead && !encode.Contains(r)).ToList();
        if (cache is not null && width >= cache.Capacity) Regroup(stable, []);    // no room for another column
        var result = new List<(BatchRow, RowChoice)>(stable.Count + encode.Count);
        if (stable.Count > 0)
        {
            using var scope = NewDisposeScope();
            using var mode = inference_mode();
            var logits = Forward();                                                // (B, V)
            var inCache = rows.Select((r, b) => (r, b)).ToDictionary(x => x.r, x => x.b);
            long[]? greedy = null;
            foreach (var row in stable)
                result.Add((row, Choose(row, logits.narrow(0, inCache[row], 1), ref greedy, logits, inCache[row])));
        }
        var fresh = new List<(BatchRow Row, KvCache Cache)>(encode.Count);
        try
        {
            foreach (var row in encode)
            {
                int[] window = row.History.Skip(row.Start).ToArray();
                var alone = model.NewCache(1);                                     // outside the scope: it outlives the step
                fresh.Add((row, alone));
                using var scope = NewDisposeScope();
                using var mode = inference_mode();
                var input = tensor(window.Select(i => (long)i).ToArray(), [1, window.Length], ScalarType.Int64, device);
                var logits = model.NextTokenLogits(input, alone);                // (1, V)
                long[]? greedy = null;
                result.Add((row, Choose(row, logits, ref greedy, logits, 0)));
            }
            int dead = rows.Count - stable.Count;
            if (fresh.Count > 0 || dead > stable.Count) Regroup(stable, fresh);
        }
        finally
        {
            foreach (var (_, c) in fresh) c.Dispose();
        }
        return result;
    }

    /// <summary>The next id of <paramref name="row"/> from its logits (1, V); greedy rows share one argmax over
    /// <paramref name="all"/> (B, V).</summary>
    RowChoice Choose(BatchRow row, Tensor rowLogits, ref long[]? greedy, Tensor all, int index)
    {
        if (rowLogits.dtype != ScalarType.Float32) rowLogits = rowLogits.to(ScalarType.Float32);
        int id;
        if (row.Options.Temperature == 0 && row.Options.RepetitionPenalty == 1.0)
        {
            greedy ??= all.argmax(-1).data<long>().ToArray();
            id = (int)greedy[index];
        }
        else
        {
            if (row.Options.RepetitionPenalty != 1.0) row.Seen ??= SeenMask(row).DetachFromDisposeScope();
            id = (int)LogitsProcessing.Choose(rowLogits, row.Options, row.Seen, row.Rng).item<long>();
        }
        row.History.Add(id);
        if (row.Seen is not null) row.Seen[0, id] = true;
        return row.LogProbs >= 0 ? WithLogProbs(rowLogits, id, row.LogProbs) : new RowChoice(id, float.NaN, null);
    }

    static RowChoice WithLogProbs(Tensor rowLogits, int id, int top)
    {
        var logProbs = rowLogits.log_softmax(-1)[0];                               // (V)
        float chosen = logProbs[id].item<float>();
        if (top == 0) return new RowChoice(id, chosen, []);
        var (values, indices) = logProbs.topk(Math.Min(top, (int)logProbs.shape[0]));
        var v = values.data<float>().ToArray();
        var ix = indices.data<long>().ToArray();
        return new RowChoice(id, chosen, ix.Select((x, i) => ((int)x, v[i])).ToArray());
    }

    Tensor SeenMask(BatchRow row)
    {
        var mask = zeros([1, model.Config.VocabSize], ScalarType.Bool, device);
        var ids = tensor(row.History.Select(i => (long)i).ToArray(), [1, row.History.Count], ScalarType.Int64, device);
        return mask.scatter_(1, ids, ones_like(ids, ScalarType.Bool));
    }

    /// <summary>One cached step: every row's last token at cache column <see cref="width"/>.</summary>
    Tensor Forward()
    {
        var ids = rows.Select(r => (long)r.History[^1]).ToArray();
        var input = tensor(ids, [rows.Count, 1], ScalarType.Int64, device);       // (B, 1)
        Tensor? positions = null, keyMask = null;
        if (positionColumns is not null)
        {
            positions = positionColumns.narrow(1, width, 1);                      // (B, 1)
            keyMask = realColumns!.narrow(1, 0, width + 1);                        // (B, width+1)
        }
        width++;
        return model.NextTokenLogits(input, cache, positions, keyMask);
    }

    /// <summary>
    /// A new batch cache holding <paramref name="keep"/>'s windows (from the current cache) and <paramref name="fresh"/>'s
    /// (from their one-row caches), right-aligned at the longest; every other row (departed, or re-encoded into
    /// <paramref name="fresh"/>) leaves the cache. Only copies: nothing is recomputed.
    /// </summary>
    void Regroup(List<BatchRow> keep, List<(BatchRow Row, KvCache Cache)> fresh)
    {
        Regroupings++;
        var lengths = keep.Select(r => width - r.Pad).Concat(fresh.Select(f => f.Cache.Length)).ToArray();
        var next = lengths.Length == 0 ? null : model.NewCache(lengths.Length);
        int newWidth = lengths.Length == 0 ? 0 : lengths.Max();
        if (next is not null)
        {
            using var scope = NewDisposeScope();
            using var grad = no_grad();
            var oldIndex = rows.Select((r, b) => (r, b)).ToDictionary(x => x.r, x => x.b);
            for (int layer = 0; layer < model.Config.NLayer; layer++)
            {
                var target = next[layer];
                for (int i = 0; i < lengths.Length; i++)
                {
                    int length = lengths[i];
                    var (keys, values) = i < keep.Count
                        ? (cache![layer].Keys.narrow(0, oldIndex[keep[i]], 1).narrow(2, keep[i].Pad, length),
                           cache[layer].Values.narrow(0, oldIndex[keep[i]], 1).narrow(2, keep[i].Pad, length))
                        : (fresh[i - keep.Count].Cache[layer].Keys.narrow(2, 0, length), fresh[i - keep.Count].Cache[layer].Values.narrow(2, 0, length));
                    target.Keys.narrow(0, i, 1).narrow(2, newWidth - length, length).copy_(keys);
                    target.Values.narrow(0, i, 1).narrow(2, newWidth - length, length).copy_(values);
                    if (newWidth > length)
                    {
                        // Padding columns are masked out, but the buffer is uninitialised: a NaN there would still
                        // reach the output through its zero attention weight (0 · NaN), so they are zeroed.
                        target.Keys.narrow(0, i, 1).narrow(2, 0, newWidth - length).zero_();
                        target.Values.narrow(0, i, 1).narrow(2, 0, newWidth - length).zero_();
                    }
                }
            }
            next.Advance(newWidth);
        }
        var newRows = keep.Concat(fresh.Select(f => f.Row)).ToList();
        foreach (var r in rows.Where(r => r.Dead && !newRows.Contains(r))) r.Dispose();   // a sliding row is re-encoded, not gone
        FreeTensors();
        rows = newRows;
        cache = next;
        width = newWidth;
        for (int i = 0; i < rows.Count; i++) rows[i].Pad = newWidth - lengths[i];
        if (rows.Any(r => r.Pad > 0))
        {
            int columns = cache!.Capacity;
            var positions = new long[rows.Count * columns];
            var real = new bool[rows.Count * columns];
            for (int b = 0; b < rows.Count; b++)
                for (int c = 0; c < columns; c++)
                {
                    positions[b * columns + c] = Math.Max(0, c - rows[b].Pad);
                    real[b * columns + c] = c >= rows[b].Pad;
                }
            positionColumns = tensor(positions, [rows.Count, columns], ScalarType.Int64, device);
            realColumns = tensor(real, [rows.Count, columns], ScalarType.Bool, device);
        }
    }

    /// <summary>Forgets every row (after a failed step) and frees the cache; the next step starts afresh.</summary>
    public IReadOnlyList<BatchRow> Clear()
    {
        var all = rows.Concat(joining).ToList();
        rows.Clear();
        joining.Clear();
        foreach (var r in all) r.Dispose();
        FreeTensors();
        return all;
    }

    /// <summary>True when no row is left at all (live or dead), so the cache can be freed.</summary>
    public bool Empty => joining.Count == 0 && rows.All(r => r.Dead);

    /// <summary>Frees the cache once every row has left.</summary>
    public void Release()
    {
        foreach (var r in rows) r.Dispose();
        rows.Clear();
        FreeTensors();
    }

    void FreeTensors()
    {
        cache?.Dispose();
        cache = null;
        positionColumns?.Dispose();
        realColumns?.Dispose();
        positionColumns = realColumns = null;
        width = 0;
    }

    public void Dispose() => Clear();
}
