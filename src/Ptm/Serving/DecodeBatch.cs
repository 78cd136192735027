using Ptm.Generation;
using Ptm.Kernels;
using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Serving;

/// <summary>
/// One request's row in a <see cref="DecodeBatch"/>: its tokens so far, its window start, the cache slot it occupies and
/// where its window begins there, and its own sampling state (options, random stream, seen-token mask for the
/// repetition penalty).
/// </summary>
sealed class BatchRow(int[] prompt, GenerationOptions options, int logProbs) : IDisposable
{
    public readonly List<int> History = [.. prompt];
    public readonly GenerationOptions Options = options;
    public readonly int LogProbs = logProbs;
    public readonly torch.Generator Rng = new((ulong)options.Seed);
    public int Start;                      // history index held at the row's first window position
    public int Slot = -1;                  // row of the batch cache it occupies, -1 until placed
    public int Pad;                        // first cache column of the row's window (windows end at the same column)
    public int Fed;                        // window tokens whose keys and values are in the cache
    public Tensor? Seen;                   // (1, V) bool, only with a repetition penalty

    /// <summary>Tokens of the window the row is encoded from (<see cref="Start"/> on).</summary>
    public int WindowLength => History.Count - Start;

    /// <summary>Whether the row's next step ends its prompt or continues its generation (its logits give a token),
    /// rather than feeding one more prompt token.</summary>
    public bool Choosing => Fed == WindowLength - 1;

    public void Dispose()
    {
        Seen?.Dispose();
        Rng.Dispose();
    }
}

/// <summary>What one step chose for one row: the id, and when asked its log-probability and the most likely ids.</summary>
readonly record struct RowChoice(int Id, float LogProbability, (int Id, float LogProbability)[]? Top);

/// <summary>Time a <see cref="DecodeBatch"/> spent in each part of its steps, in <see cref="System.Diagnostics.Stopwatch"/>
/// ticks, and how often it moved its rows.</summary>
sealed class BatchTimings
{
    public long DecodeTicks, ChooseTicks, PrefillTicks, PlaceTicks, ShiftTicks;
    public long Prefills, PrefilledRows, FedRows, Shifts;
}

/// <summary>
/// The decode batch under a <see cref="ModelScheduler"/>: rows join and leave between steps. The batch owns one KV
/// cache of <c>maxRows</c> slots by the full context, allocated once; a row keeps its slot from the step it is placed
/// until it leaves, so a join or a departure moves no other row's keys and values. Windows are right-aligned (all end at
/// the batch's current column, left-padded before) with per-slot position ids and a key mask, so a row decodes as it
/// would alone (as in <see cref="BatchDecoder"/>). A step is one forward pass over the pending token of every slot up to
/// the highest one in use (a free slot below it computes a row nobody reads).
/// <para>A new row with a prompt of at most <c>feedLimit</c> tokens that joins while other rows decode takes a slot at
/// once, its window starting at the current column, and its prompt is fed through the batch's steps one token per step
/// (the rows that feed choose nothing until their last prompt token): no extra forward pass holds up the running rows.
/// Other new rows, and a row whose window slides (at the token where a lone row's would), are encoded together in one
/// left-padded forward pass into a scratch cache, up to <c>prefillBudget</c> padded positions per step (at least one new
/// row per step; sliding rows always), and their windows copied into their slots. All windows move together only when
/// the last column is reached (every window shifts left by the smallest padding) or a copied window is longer than the
/// columns in use (every window shifts right). Every method runs on the scheduler's thread.</para>
/// <para>The steps' products of several rows run from transposed copies of the model's weights
/// (<see cref="TransposedWeights"/>), made at the first step and freed with the cache when the batch is released: the
/// model does not change while it serves.</para>
/// </summary>
sealed class DecodeBatch : IDisposable
{
    readonly Gpt model;
    readonly int context, maxRows, prefillBudget, feedLimit;
    readonly Device device;
    readonly BatchRow?[] slots;
    readonly List<BatchRow> joining = [];
    readonly KvCache?[] views;             // views[n]: the first n slots of cache
    readonly KvCache?[] scratchViews;      // scratchViews[n]: the first n rows of scratch
    KvCache? cache;                        // (maxRows, nh, context, hs) per layer
    KvCache? scratch;                      // (maxRows, nh, context, hs) per layer, for prefill
    Tensor? positionColumns;               // (maxRows, context) position id of each cache column
    Tensor? realColumns;                   // (maxRows, context) whether a cache column holds a real token
    TransposedWeights? transposed;         // the model's weights transposed, for the steps' products of several rows
    int width;                             // cache columns in use: every window ends at width

    public DecodeBatch(Gpt model, int maxRows, int prefillBudget, int feedLimit)
    {
        this.feedLimit = feedLimit;
        this.model = model;
        this.maxRows = maxRows;
        this.prefillBudget = prefillBudget;
        context = model.Config.NPositions;
        device = model.parameters().First().device;
        slots = new BatchRow?[maxRows];
        views = new KvCache?[maxRows + 1];
        scratchViews = new KvCache?[maxRows + 1];
    }

    /// <summary>Where the time went; read on the scheduler's thread or as a racy snapshot.</summary>
    public BatchTimings Timings { get; } = new();

    /// <summary>Live rows (placed or waiting to be encoded).</summary>
    public int LiveRows => slots.Count(s => s is not null) + joining.Count;

    /// <summary>Rows admitted but not yet encoded (waiting for the prefill budget).</summary>
    public int Joining => joining.Count;

    /// <summary>Adds a row; it is encoded at the next step the prefill budget allows and decodes from then on.</summary>
    public void Join(BatchRow row) => joining.Add(row);

    /// <summary>Removes a row at once: its slot is free for the next row; nothing else moves.</summary>
    public void Leave(BatchRow row)
    {
        if (!joining.Remove(row) && row.Slot >= 0 && slots[row.Slot] == row) slots[row.Slot] = null;
        row.Slot = -1;
        row.Dispose();
    }

    /// <summary>Advances every placed row by one token and encodes joining rows the budget allows (their first token);
    /// returns the choices of both.</summary>
    public IReadOnlyList<(BatchRow Row, RowChoice Choice)> Step()
    {
        var encode = new List<BatchRow>();
        foreach (var row in slots)
            if (row is not null && row.WindowLength > context)
            {
                // Restart from the last half context, as a lone row does.
                row.Start = row.History.Count - context / 2;
                encode.Add(row);
            }
        int sliding = encode.Count;
        int longest = encode.Count > 0 ? context / 2 : 0;
        var stable = slots.Where(r => r is not null && !encode.Contains(r)).Select(r => r!).ToList();
        EnsureBuffers();
        if (stable.Count == 0) width = 0;                                          // nothing in the cache to keep
        else if (width >= context) Shift(-stable.Min(r => r.Pad));                 // no room for another column
        var fed = new List<BatchRow>();
        for (int i = 0; i < joining.Count && stable.Count + fed.Count + encode.Count < maxRows; )
        {
            var row = joining[i];
            if (stable.Count > 0 && row.WindowLength <= feedLimit)
            {
                fed.Add(row);                                                      // fed through the steps, from column `width`
                joining.RemoveAt(i);
                continue;
            }
            int length = Math.Max(longest, row.WindowLength);
            if (encode.Count > sliding && (encode.Count + 1 - sliding) * length > prefillBudget) { i++; continue; }
            longest = length;
            encode.Add(row);
            joining.RemoveAt(i);
        }
        if (fed.Count > 0) Feed(fed);
        stable.AddRange(fed);
        var result = new List<(BatchRow, RowChoice)>(stable.Count + encode.Count);
        if (stable.Count > 0) DecodeStep(stable, result);
        if (encode.Count > 0) Prefill(encode, result);
        return result;
    }

    void EnsureBuffers()
    {
        if (cache is not null) return;
        cache = model.NewCache(maxRows);
        scratch = model.NewCache(maxRows);
        using var scope = NewDisposeScope();
        positionColumns = arange(context, ScalarType.Int64, device).expand(maxRows, context).contiguous().DetachFromDisposeScope();
        realColumns = ones([maxRows, context], ScalarType.Bool, device).DetachFromDisposeScope();
        transposed = new TransposedWeights();
    }

    /// <summary>Gives each of <paramref name="rows"/> a free slot whose window starts at column <see cref="width"/>:
    /// nothing in the cache yet, its prompt fed from the next step on.</summary>
    void Feed(List<BatchRow> rows)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        foreach (var row in rows)
        {
            row.Slot = Array.IndexOf(slots, null);
            slots[row.Slot] = row;
            row.Fed = 0;
            row.Pad = width;
        }
        if (width > 0)
        {
            using var scope = NewDisposeScope();
            var slotIndex = tensor(rows.Select(r => (long)r.Slot).ToArray(), ScalarType.Int64, device);
            for (int layer = 0; layer < model.Config.NLayer; layer++)
            {
                // Masked columns still meet the attention weights (0 · x), so they must hold numbers, not a previous
                // occupant's or uninitialised memory that may be NaN.
                cache![layer].Keys.narrow(2, 0, width).index_fill_(0, slotIndex, 0);
                cache[layer].Values.narrow(2, 0, width).index_fill_(0, slotIndex, 0);
            }
        }
        WriteMasks(rows);
        Timings.PlaceTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
        Timings.FedRows += rows.Count;
    }

    static KvCache View(KvCache?[] cached, KvCache source, int rows) => cached[rows] ??= source.FirstRows(rows);

    /// <summary>One cached step over slots [0, n): every slot's last token at cache column <see cref="width"/>.</summary>
    void DecodeStep(List<BatchRow> stable, List<(BatchRow, RowChoice)> result)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        int n = stable.Max(r => r.Slot) + 1;
        var ids = new long[n];
        for (int b = 0; b < n; b++) ids[b] = slots[b] is { } r && stable.Contains(r) ? r.History[r.Start + r.Fed] : 0;
        var view = View(views, cache!, n);                                             // made outside inference mode: a normal tensor
        view.SetLength(width);
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        using var products = transposed!.Use();
        var input = tensor(ids, [n, 1], ScalarType.Int64, device);                    // (n, 1)
        var positions = positionColumns!.narrow(0, 0, n).narrow(1, width, 1);         // (n, 1)
        var keyMask = realColumns!.narrow(0, 0, n).narrow(1, 0, width + 1);           // (n, width+1)
        var logits = model.NextTokenLogits(input, view, positions, keyMask);          // (n, V)
        width++;
        var choosing = stable.Where(r => r.Choosing).ToList();
        foreach (var row in stable) row.Fed++;
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        if (choosing.Count > 0) Choose(choosing, choosing.Select(r => r.Slot).ToArray(), logits, result);
        long t2 = System.Diagnostics.Stopwatch.GetTimestamp();
        Timings.DecodeTicks += t1 - t0;
        Timings.ChooseTicks += t2 - t1;
    }

    /// <summary>
    /// Encodes <paramref name="rows"/>' windows in one forward pass, left-padded to the longest, into the scratch cache,
    /// chooses their next tokens, and copies the windows into their slots (new rows take the lowest free ones).
    /// </summary>
    void Prefill(List<BatchRow> rows, List<(BatchRow, RowChoice)> result)
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        int k = rows.Count, longest = rows.Max(r => r.WindowLength);
        var view = View(scratchViews, scratch!, k);
        view.SetLength(0);
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        using var products = transposed!.Use();
        var ids = new long[k * longest];
        var positions = new long[k * longest];
        var real = new bool[k * longest];
        bool padded = false;
        for (int i = 0; i < k; i++)
        {
            int length = rows[i].WindowLength, pad = longest - length;
            padded |= pad > 0;
            for (int c = 0; c < longest; c++)
            {
                ids[i * longest + c] = c < pad ? 0 : rows[i].History[rows[i].Start + c - pad];
                positions[i * longest + c] = Math.Max(0, c - pad);
                real[i * longest + c] = c >= pad;
            }
        }
        var input = tensor(ids, [k, longest], ScalarType.Int64, device);               // (k, T)
        var logits = padded
            ? model.NextTokenLogits(input, view, tensor(positions, [k, longest], ScalarType.Int64, device), tensor(real, [k, longest], ScalarType.Bool, device))
            : model.NextTokenLogits(input, view);                                       // (k, V)
        long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        Choose(rows, Enumerable.Range(0, k).ToArray(), logits, result);
        long t2 = System.Diagnostics.Stopwatch.GetTimestamp();

        // The encoded windows (without the token just chosen, which the next step writes) end at column `longest` of
        // the scratch rows; in the batch cache they end at `width`.
        if (longest > width) Shift(longest - width);
        foreach (var row in rows)
            if (row.Slot < 0)
            {
                row.Slot = Array.IndexOf(slots, null);
                slots[row.Slot] = row;
            }
        var slotIndex = tensor(rows.Select(r => (long)r.Slot).ToArray(), ScalarType.Int64, device);   // (k)
        int before = width - longest;
        for (int layer = 0; layer < model.Config.NLayer; layer++)
        {
            var (target, source) = (cache![layer], scratch![layer]);
            target.Keys.narrow(2, before, longest).index_copy_(0, slotIndex, source.Keys.narrow(0, 0, k).narrow(2, 0, longest));
            target.Values.narrow(2, before, longest).index_copy_(0, slotIndex, source.Values.narrow(0, 0, k).narrow(2, 0, longest));
            if (before > 0)
            {
                // Masked columns still meet the attention weights (0 · x), so they must hold numbers, not a previous
                // occupant's or uninitialised memory that may be NaN.
                target.Keys.narrow(2, 0, before).index_fill_(0, slotIndex, 0);
                target.Values.narrow(2, 0, before).index_fill_(0, slotIndex, 0);
            }
        }
        foreach (var row in rows)
        {
            row.Fed = row.WindowLength - 1;
            row.Pad = width - row.Fed;
        }
        WriteMasks(rows);
        long t3 = System.Diagnostics.Stopwatch.GetTimestamp();
        Timings.PrefillTicks += t1 - t0;
        Timings.ChooseTicks += t2 - t1;
        Timings.PlaceTicks += t3 - t2;
        Timings.Prefills++;
        Timings.PrefilledRows += k;
    }

    /// <summary>Position ids and key mask of <paramref name="rows"/>' slots from their <see cref="BatchRow.Pad"/>.</summary>
    void WriteMasks(IReadOnlyList<BatchRow> rows)
    {
        using var scope = NewDisposeScope();
        var positions = new long[rows.Count * context];
        var real = new bool[rows.Count * context];
        for (int i = 0; i < rows.Count; i++)
            for (int c = 0; c < context; c++)
            {
                // Clamped: a row about to be re-encoded (its window slid) may be shifted past column 0 in the meantime;
                // its slot computes a row nobody reads, but its position ids must still exist.
                positions[i * context + c] = Math.Clamp(c - rows[i].Pad, 0, context - 1);
                real[i * context + c] = c >= rows[i].Pad;
            }
        var slotIndex = tensor(rows.Select(r => (long)r.Slot).ToArray(), ScalarType.Int64, device);
        positionColumns!.index_copy_(0, slotIndex, tensor(positions, [rows.Count, context], ScalarType.Int64, device));
        realColumns!.index_copy_(0, slotIndex, tensor(real, [rows.Count, context], ScalarType.Bool, device));
    }

    /// <summary>
    /// Moves every slot's columns [0, width) by <paramref name="by"/> columns (right when positive, left when negative)
    /// and adjusts the placed rows' paddings. Moving right fills the columns it opens with zeros; moving left drops
    /// columns that are padding in every placed row.
    /// </summary>
    void Shift(int by)
    {
        if (by == 0) return;
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        int n = Array.FindLastIndex(slots, s => s is not null) + 1;
        if (n > 0 && width > 0)
        {
            using var scope = NewDisposeScope();
            using var mode = inference_mode();
            int kept = by > 0 ? width : width + by;                               // columns that survive the move
            int from = by > 0 ? 0 : -by, to = by > 0 ? by : 0;
            for (int layer = 0; layer < model.Config.NLayer; layer++)
                foreach (var buffer in (Tensor[])[cache![layer].Keys, cache[layer].Values])
                {
                    var rows = buffer.narrow(0, 0, n);
                    var moved = rows.narrow(2, from, kept).clone();
                    rows.narrow(2, to, kept).copy_(moved);
                    if (by > 0) rows.narrow(2, 0, by).zero_();
                }
        }
        width += by;
        var placed = slots.Where(s => s is not null).Select(s => s!).ToList();
        foreach (var row in placed) row.Pad += by;
        if (placed.Count > 0) WriteMasks(placed);
        Timings.ShiftTicks += System.Diagnostics.Stopwatch.GetTimestamp() - t0;
        Timings.Shifts++;
    }

    /// <summary>
    /// The next ids of <paramref name="rows"/> from <paramref name="logits"/> (N, V), row i at index
    /// <paramref name="index"/>[i]: greedy rows share one argmax, sampled rows draw from their own streams, and the
    /// log-probabilities asked for come from one log-softmax over all rows.
    /// </summary>
    static void Choose(List<BatchRow> rows, int[] index, Tensor logits, List<(BatchRow, RowChoice)> result)
    {
        if (logits.dtype != ScalarType.Float32) logits = logits.to(ScalarType.Float32);
        long[]? greedy = null;
        var ids = new int[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            if (row.Options.Temperature == 0 && row.Options.RepetitionPenalty == 1.0)
            {
                greedy ??= logits.argmax(-1).data<long>().ToArray();
                ids[i] = (int)greedy[index[i]];
            }
            else
            {
                if (row.Options.RepetitionPenalty != 1.0) row.Seen ??= SeenMask(row, logits).DetachFromDisposeScope();
                ids[i] = (int)LogitsProcessing.Choose(logits.narrow(0, index[i], 1), row.Options, row.Seen, row.Rng).item<long>();
            }
            row.History.Add(ids[i]);
            if (row.Seen is not null) row.Seen[0, ids[i]] = true;
        }
        float[]? chosen = null;
        Tensor? logProbs = null;
        if (rows.Any(r => r.LogProbs >= 0))
        {
            logProbs = logits.log_softmax(-1);                                         // (N, V)
            var flat = index.Select((b, i) => (long)b * logits.shape[1] + ids[i]).ToArray();
            chosen = logProbs.flatten().index_select(0, tensor(flat, ScalarType.Int64, logits.device)).data<float>().ToArray();
        }
        for (int i = 0; i < rows.Count; i++)
        {
            var row = rows[i];
            RowChoice choice = new(ids[i], float.NaN, null);
            if (row.LogProbs == 0) choice = new(ids[i], chosen![i], []);
            else if (row.LogProbs > 0)
            {
                var (values, indices) = logProbs![index[i]].topk(Math.Min(row.LogProbs, (int)logits.shape[1]));
                var v = values.data<float>().ToArray();
                var ix = indices.data<long>().ToArray();
                choice = new(ids[i], chosen![i], ix.Select((x, j) => ((int)x, v[j])).ToArray());
            }
            result.Add((row, choice));
        }
    }

    static Tensor SeenMask(BatchRow row, Tensor logits)
    {
        var mask = zeros([1, logits.shape[1]], ScalarType.Bool, logits.device);
        var ids = tensor(row.History.Select(i => (long)i).ToArray(), [1, row.History.Count], ScalarType.Int64, logits.device);
        return mask.scatter_(1, ids, ones_like(ids, ScalarType.Bool));
    }

    /// <summary>Forgets every row (after a failed step) and frees the buffers; the next step starts afresh.</summary>
    public IReadOnlyList<BatchRow> Clear()
    {
        var all = slots.Where(s => s is not null).Select(s => s!).Concat(joining).ToList();
        Array.Clear(slots);
        joining.Clear();
        foreach (var r in all) r.Dispose();
        FreeTensors();
        return all;
    }

    /// <summary>True when no row is left at all, so the buffers can be freed.</summary>
    public bool Empty => joining.Count == 0 && slots.All(s => s is null);

    /// <summary>Frees the buffers once every row has left (they are allocated again at the next step).</summary>
    public void Release() => FreeTensors();

    void FreeTensors()
    {
        foreach (var v in views.Concat(scratchViews)) v?.Dispose();
        Array.Clear(views);
        Array.Clear(scratchViews);
        cache?.Dispose();
        scratch?.Dispose();
        cache = scratch = null;
        positionColumns?.Dispose();
        realColumns?.Dispose();
        positionColumns = realColumns = null;
        transposed?.Dispose();
        transposed = null;
        width = 0;
    }

    public void Dispose() => Clear();
}
