using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>
/// The state of decoding a batch of prompts one token per row and step: each row's tokens and window start, the KV
/// cache, and the device tensors that carry a step's choice into the next step without a trip through the host.
/// Rows of different lengths are left-padded; padding keys are masked out and every row keeps its own position ids,
/// so a row decodes as it would alone. A row's window slides exactly as a lone row's would: when it outgrows the
/// context it restarts from its last half context, and the whole cache is refilled (the only time the cache is
/// rebuilt; otherwise each step writes one column in place).
/// </summary>
sealed class BatchDecoder : IDisposable
{
    readonly Gpt model;
    readonly GenerationOptions options;
    readonly int context;
    readonly int batch;
    readonly List<int>[] history;
    readonly int[] start;                 // per row: the history index held at the row's first window position
    readonly KvCache? cache;
    readonly torch.Generator rng;
    readonly Device device;
    Tensor? seen;                         // (B, V) bool: ids in each row's context, for the repetition penalty
    Tensor? pending;                      // (B, 1) ids chosen by the last step: the next step's input
    Tensor? positionColumns;              // (B, capacity) position id of each cache column, when rows are padded
    Tensor? realColumns;                  // (B, capacity) whether a cache column holds a real token, when padded
    Tensor? trueColumn;                   // (B, 1) true, the source for marking ids as seen
    int width;                            // cache columns in use

    public BatchDecoder(Gpt model, IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        this.model = model;
        this.options = options;
        context = model.Config.NPositions;
        batch = prompts.Count;
        history = prompts.Select(p => new List<int>(p)).ToArray();
        start = new int[batch];
        device = model.parameters().First().device;
        rng = new torch.Generator((ulong)options.Seed);
        cache = options.UseCache ? model.NewCache(batch) : null;
    }

    /// <summary>The cache, for tests that check it is written in place.</summary>
    internal KvCache? Cache => cache;

    /// <summary>Runs the model once and returns the next id of every row.</summary>
    public int[] Step()
    {
        using var scope = NewDisposeScope();
        // inference_mode (not just no_grad): views and outputs skip autograd's bookkeeping, a few native calls per op.
        using var mode = inference_mode();
        seen ??= options.RepetitionPenalty != 1.0 ? NewSeenMask().DetachFromDisposeScope() : null;
        var logits = cache is null ? ForwardWindow() : ForwardCached();    // (B, V)
        var next = LogitsProcessing.Choose(logits, options, seen, rng);    // (B)
        int[] ids = ToHost(next);
        for (int b = 0; b < batch; b++) history[b].Add(ids[b]);
        var column = next.view(batch, 1);                                  // (B, 1)
        if (seen is not null)
        {
            trueColumn ??= ones(batch, 1, ScalarType.Bool, device).DetachFromDisposeScope();
            seen.scatter_(1, column, trueColumn);
        }
        pending?.Dispose();
        pending = column.DetachFromDisposeScope();
        return ids;
    }

    Tensor ForwardCached()
    {
        bool refill = pending is null;
        for (int b = 0; b < batch; b++)
            if (history[b].Count - start[b] > context)
            {
                start[b] = history[b].Count - context / 2;
                refill = true;
            }
        if (refill) return Refill();
        Tensor? positions = null, keyMask = null;
        if (positionColumns is not null)
        {
            positions = positionColumns.narrow(1, width, 1);               // (B, 1)
            keyMask = realColumns!.narrow(1, 0, width + 1);                 // (B, width+1)
        }
        width++;
        return model.NextTokenLogits(pending!, cache, positions, keyMask);
    }

    /// <summary>Re-encodes every row's window from scratch: the prompt at the start, then after a slide.</summary>
    Tensor Refill()
    {
        cache!.Reset();
        var rows = Enumerable.Range(0, batch).Select(b => history[b].Skip(start[b]).ToArray()).ToArray();
        var (input, padded) = LeftPad(rows, out width);
        positionColumns?.Dispose();
        realColumns?.Dispose();
        positionColumns = realColumns = null;
        if (padded)
        {
            // Columns up to the capacity, so the decoding steps until the next refill only take narrow views.
            (positionColumns, realColumns) = PaddingColumns(rows, width, cache.Capacity);
            positionColumns = positionColumns.DetachFromDisposeScope();
            realColumns = realColumns.DetachFromDisposeScope();
            return model.NextTokenLogits(input, cache, positionColumns.narrow(1, 0, width), realColumns.narrow(1, 0, width));
        }
        return model.NextTokenLogits(input, cache);
    }

    /// <summary>Without the cache: every step re-reads each row's last <c>n_positions</c> tokens.</summary>
    Tensor ForwardWindow()
    {
        var rows = history.Select(h => h.Skip(Math.Max(0, h.Count - context)).ToArray()).ToArray();
        var (input, padded) = LeftPad(rows, out int w);
        if (!padded) return model.NextTokenLogits(input, null);
        var (positions, real) = PaddingColumns(rows, w, w);
        return model.NextTokenLogits(input, null, positions, real);
    }

    (Tensor Input, bool Padded) LeftPad(int[][] rows, out int w)
    {
        w = rows.Max(r => r.Length);
        var ids = new long[batch * w];
        bool padded = false;
        for (int b = 0; b < batch; b++)
        {
            int pad = w - rows[b].Length;
            padded |= pad > 0;
            for (int j = 0; j < rows[b].Length; j++) ids[b * w + pad + j] = rows[b][j]; // padding keeps id 0, masked out
        }
        return (tensor(ids, [batch, w], ScalarType.Int64, device), padded);
    }

    /// <summary>(B, columns) position ids (0 at each row's first real token) and real-token flags for left-padded rows
    /// whose widest is <paramref name="w"/>.</summary>
    (Tensor Positions, Tensor Real) PaddingColumns(int[][] rows, int w, int columns)
    {
        var positions = new long[batch * columns];
        var real = new bool[batch * columns];
        for (int b = 0; b < batch; b++)
        {
            int pad = w - rows[b].Length;
            for (int c = 0; c < columns; c++)
            {
                positions[b * columns + c] = Math.Max(0, c - pad);
                real[b * columns + c] = c >= pad;
            }
        }
        return (tensor(positions, [batch, columns], ScalarType.Int64, device), tensor(real, [batch, columns], ScalarType.Bool, device));
    }

    Tensor NewSeenMask()
    {
        var mask = zeros([batch, model.Config.VocabSize], ScalarType.Bool, device);
        for (int b = 0; b < batch; b++)
        {
            var ids = tensor(history[b].Select(i => (long)i).ToArray(), [1, history[b].Count], ScalarType.Int64, device);
            mask.narrow(0, b, 1).scatter_(1, ids, ones_like(ids, ScalarType.Bool));
        }
        return mask;
    }

    int[] ToHost(Tensor next)
    {
        if (batch == 1) return [(int)next.item<long>()];
        var ids = new int[batch];
        var values = next.data<long>();
        for (int b = 0; b < batch; b++) ids[b] = (int)values[b];
        return ids;
    }

    public void Dispose()
    {
        cache?.Dispose();
        seen?.Dispose();
        pending?.Dispose();
        positionColumns?.Dispose();
        realColumns?.Dispose();
        trueColumn?.Dispose();
        rng.Dispose();
    }
}
