using Ptm.Generation;
using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Serving;

/// <summary>
/// One request's row in a <see cref="DecodeBatch"/>: its tokens so far, its window start and its own sampling state
/// (options, random stream, seen-token mask for the repetition penalty).
/// </summary>
sealed class BatchRow(int[] prompt, GenerationOptions options, int logProbs) : IDisposable
{
    public readonly List<int> History = [.. prompt];
    public readonly GenerationOptions Options = options;
    public readonly int LogProbs = logProbs;
    public readonly torch.Generator Rng = new((ulong)options.Seed);
    public int Start;                      // history index held at the row's first window position
    public Tensor? Seen;                   // (1, V) bool, only with a repetition penalty
    public bool Dead;                      // left the batch; computed until the next rebuild, its output ignored

    public void Dispose()
    {
        Seen?.Dispose();
        Rng.Dispose();
    }
}

/// <summary>What one step chose for one row: the id, and when asked its log-probability and the most likely ids.</summary>
readonly record struct RowChoice(int Id, float LogProbability, (int Id, float LogProbability)[]? Top);

/// <summary>
/// The decode batch under a <see cref="ModelScheduler"/>: rows join and leave between steps. Rows of different
/// lengths are left-padded, with per-row position ids and a key mask, so a row decodes as it would alone (as in
/// <see cref="BatchDecoder"/>). A step is one forward pass over the pending token of every row, written into the KV
/// cache in place. The cache is rebuilt (every row's window re-encoded) when rows joined, when a row's window slides
/// (exactly where a lone row's would), when the cache is full, or when departed rows outnumber the live ones; a row
/// that leaves otherwise stays in the batch as a dead row until then, so leaving never costs a re-encoding.
/// Every method runs on the scheduler's thread.
/// </summary>
sealed class DecodeBatch(Gpt model) : IDisposable
{
    readonly int context = model.Config.NPositions;
    readonly Device device = model.parameters().First().device;
    readonly List<BatchRow> rows = [];
    readonly List<BatchRow> joining = [];
    KvCache? cache;
    Tensor? positionColumns;               // (B, capacity) position id of each cache column, when rows are padded
    Tensor? realColumns;                   // (B, capacity) whether a cache column holds a real token, when padded
    int width;                             // cache columns in use
    int cacheRows;                         // rows the cache was made for

    /// <summary>Live rows (joined or joining, not yet left).</summary>
    public int LiveRows => rows.Count(r => !r.Dead) + joining.Count;

    /// <summary>Forward passes that re-encoded every row's window (joins, slides, compaction).</summary>
    public long Rebuilds { get; private set; }

    /// <summary>Adds a row; it takes part from the next step.</summary>
    public void Join(BatchRow row) => joining.Add(row);

    /// <summary>Marks a row as gone: it stops counting at once and is dropped at the next rebuild.</summary>
    public void Leave(BatchRow row)
    {
        if (joining.Remove(row)) { row.Dispose(); return; }
        row.Dead = true;
    }

    /// <summary>Runs the model once and returns the choice of every live row (dead rows are left out).</summary>
    public IReadOnlyList<(BatchRow Row, RowChoice Choice)> Step()
    {
        int live = rows.Count(r => !r.Dead);
        bool rebuild = cache is null || joining.Count > 0 || rows.Count - live > live || width >= cache.Capacity;
        foreach (var row in rows)
            if (!row.Dead && row.History.Count - row.Start > context)
            {
                row.Start = row.History.Count - context / 2;
                rebuild = true;
            }
        if (rebuild) Regroup();                                                   // outside the scope: the cache outlives the step
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var logits = rebuild ? Rebuild() : Forward();                              // (B, V)
        if (logits.dtype != ScalarType.Float32) logits = logits.to(ScalarType.Float32);
        var result = new List<(BatchRow, RowChoice)>(rows.Count);
        long[]? greedy = null;
        for (int b = 0; b < rows.Count; b++)
        {
            var row = rows[b];
            if (row.Dead) continue;
            var rowLogits = logits.narrow(0, b, 1);                                // (1, V)
            int id;
            if (row.Options.Temperature == 0 && row.Options.RepetitionPenalty == 1.0)
            {
                greedy ??= logits.argmax(-1).data<long>().ToArray();
                id = (int)greedy[b];
            }
            else
            {
                if (row.Options.RepetitionPenalty != 1.0) row.Seen ??= SeenMask(row).DetachFromDisposeScope();
                id = (int)LogitsProcessing.Choose(rowLogits, row.Options, row.Seen, row.Rng).item<long>();
            }
            row.History.Add(id);
            if (row.Seen is not null) row.Seen[0, id] = true;
            result.Add((row, row.LogProbs >= 0 ? WithLogProbs(rowLogits, id, row.LogProbs) : new RowChoice(id, float.NaN, null)));
        }
        return result;
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

    /// <summary>Drops dead rows, admits joining ones and readies an empty cache with one row each.</summary>
    void Regroup()
    {
        Rebuilds++;
        foreach (var r in rows.Where(r => r.Dead)) r.Dispose();
        rows.RemoveAll(r => r.Dead);
        rows.AddRange(joining);
        joining.Clear();
        if (cache is null || cacheRows != rows.Count)
        {
            cache?.Dispose();
            cache = model.NewCache(rows.Count);
            cacheRows = rows.Count;
        }
        cache.Reset();
        positionColumns?.Dispose();
        realColumns?.Dispose();
        positionColumns = realColumns = null;
    }

    /// <summary>Re-encodes every row's window into the (regrouped, emptied) cache.</summary>
    Tensor Rebuild()
    {
        var windows = rows.Select(r => r.History.Skip(r.Start).ToArray()).ToArray();
        width = windows.Max(w => w.Length);
        var ids = new long[rows.Count * width];
        bool padded = false;
        for (int b = 0; b < rows.Count; b++)
        {
            int pad = width - windows[b].Length;
            padded |= pad > 0;
            for (int j = 0; j < windows[b].Length; j++) ids[b * width + pad + j] = windows[b][j]; // padding keeps id 0, masked out
        }
        var input = tensor(ids, [rows.Count, width], ScalarType.Int64, device);   // (B, width)
        if (!padded) return model.NextTokenLogits(input, cache);
        int columns = cache!.Capacity;
        var positions = new long[rows.Count * columns];
        var real = new bool[rows.Count * columns];
        for (int b = 0; b < rows.Count; b++)
        {
            int pad = width - windows[b].Length;
            for (int c = 0; c < columns; c++)
            {
                positions[b * columns + c] = Math.Max(0, c - pad);
                real[b * columns + c] = c >= pad;
            }
        }
        positionColumns = tensor(positions, [rows.Count, columns], ScalarType.Int64, device).DetachFromDisposeScope();
        realColumns = tensor(real, [rows.Count, columns], ScalarType.Bool, device).DetachFromDisposeScope();
        return model.NextTokenLogits(input, cache, positionColumns.narrow(1, 0, width), realColumns.narrow(1, 0, width));
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
