using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>
/// A GPT as an <see cref="IStepDecoder"/>: each row is a prompt to continue. Prompts of different lengths share the
/// batch by left padding; padding keys are masked out and every row keeps its own position ids (0 at its first real
/// token), so a row decodes as it would alone. The KV cache holds <c>n_positions</c> columns and does not slide:
/// <see cref="IStepDecoder.RemainingCapacity"/> says how many more tokens fit. <see cref="Reorder"/> gathers cache
/// rows into a new cache. The model is borrowed and kept in eval mode until the decoder is disposed.
/// </summary>
public sealed class GptStepDecoder : IStepDecoder
{
    readonly Gpt model;
    readonly IReadOnlyList<int[]> prompts;
    readonly EvalMode evalMode;
    readonly Device device;
    KvCache cache;
    Tensor? positionColumns;              // (Rows, capacity) position id of each cache column, when rows are padded
    Tensor? realColumns;                  // (Rows, capacity) whether a cache column holds a real token, when padded
    int width;                            // cache columns in use
    bool started;

    /// <summary>A decoder for <paramref name="prompts"/> (token ids, each non-empty, shorter than <c>n_positions</c>,
    /// inside the vocabulary).</summary>
    /// <exception cref="InvalidInputException">A prompt is empty, too long or holds an id outside the vocabulary.</exception>
    public GptStepDecoder(Gpt model, IReadOnlyList<int[]> prompts)
    {
        if (prompts.Count == 0) throw new InvalidInputException("no prompts given");
        int context = model.Config.NPositions;
        foreach (int[] p in prompts)
        {
            if (p.Length == 0) throw new InvalidInputException("a prompt is empty; give at least one token");
            if (p.Length >= context)
                throw new InvalidInputException($"prompt is {p.Length} tokens, longer than the context allows (n_positions = {context}, leaving no room to generate)");
            foreach (int id in p)
                if ((uint)id >= (uint)model.Config.VocabSize)
                    throw new InvalidInputException($"token id {id} is outside the model's vocabulary [0, {model.Config.VocabSize})");
        }
        this.model = model;
        this.prompts = prompts;
        device = model.parameters().First().device;
        evalMode = EvalMode.Enter(model);
        cache = model.NewCache(prompts.Count);
        Rows = prompts.Count;
        width = prompts.Max(p => p.Length);
    }

    /// <inheritdoc/>
    public long Rows { get; private set; }

    /// <inheritdoc/>
    public int VocabSize => model.Config.VocabSize;

    /// <inheritdoc/>
    public int RemainingCapacity => cache.Capacity - width;

    /// <inheritdoc/>
    public Tensor Start()
    {
        if (started) throw new InvalidOperationException("Start was already called");
        started = true;
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        int batch = prompts.Count;
        var ids = new long[batch * width];
        bool padded = false;
        for (int b = 0; b < batch; b++)
        {
            int pad = width - prompts[b].Length;
            padded |= pad > 0;
            for (int j = 0; j < prompts[b].Length; j++) ids[b * width + pad + j] = prompts[b][j]; // padding keeps id 0, masked out
        }
        var input = tensor(ids, [batch, width], ScalarType.Int64, device);           // (B, T)
        Tensor logits;
        if (padded)
        {
            // Columns up to the capacity, so each later step only takes narrow views.
            int columns = cache.Capacity;
            var positions = new long[batch * columns];
            var real = new bool[batch * columns];
            for (int b = 0; b < batch; b++)
            {
                int pad = width - prompts[b].Length;
                for (int c = 0; c < columns; c++)
                {
                    positions[b * columns + c] = Math.Max(0, c - pad);
                    real[b * columns + c] = c >= pad;
                }
            }
            positionColumns = tensor(positions, [batch, columns], ScalarType.Int64, device).DetachFromDisposeScope();
            realColumns = tensor(real, [batch, columns], ScalarType.Bool, device).DetachFromDisposeScope();
            logits = model.NextTokenLogits(input, cache, positionColumns.narrow(1, 0, width), realColumns.narrow(1, 0, width));
        }
        else logits = model.NextTokenLogits(input, cache);
        return LogProbabilities(logits).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor Step(Tensor tokens)
    {
        if (!started) throw new InvalidOperationException("Start must be called before Step");
        if (RemainingCapacity <= 0)
            throw new InvalidInputException($"the context is full (n_positions = {cache.Capacity}); no room for another token");
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        Tensor? positions = null, keyMask = null;
        if (positionColumns is not null)
        {
            positions = positionColumns.narrow(1, width, 1);               // (R, 1)
            keyMask = realColumns!.narrow(1, 0, width + 1);                 // (R, width+1)
        }
        width++;
        var logits = model.NextTokenLogits(tokens.to(ScalarType.Int64).to(device).view(Rows, 1), cache, positions, keyMask); // (R, V)
        return LogProbabilities(logits).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public void Reorder(Tensor rows)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var index = rows.to(ScalarType.Int64).to(device);
        var gathered = cache.Gather(index);
        cache.Dispose();
        cache = gathered;
        if (positionColumns is not null)
        {
            var p = positionColumns.index_select(0, index).DetachFromDisposeScope();
            var r = realColumns!.index_select(0, index).DetachFromDisposeScope();
            positionColumns.Dispose();
            realColumns.Dispose();
            positionColumns = p;
            realColumns = r;
        }
        Rows = index.size(0);
    }

    static Tensor LogProbabilities(Tensor logits) => logits.to(ScalarType.Float32).log_softmax(-1);  // (R, V)

    /// <summary>Frees the cache and restores the model's training mode.</summary>
    public void Dispose()
    {
        cache.Dispose();
        positionColumns?.Dispose();
        realColumns?.Dispose();
        evalMode.Dispose();
    }
}
