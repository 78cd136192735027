using Ptm.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>
/// An encoder–decoder model (<see cref="BartForConditionalGeneration"/>) seen one target token at a time: the encoder
/// runs once over the sources, its output and every decoder layer's cross-attention keys and values stay fixed for the
/// whole decode, and the decoder's self-attention keys and values grow in a preallocated <see cref="KvCache"/>.
/// <see cref="Reorder"/> gathers both, so rows can be kept, dropped or duplicated (beam search).
/// Works without autograd; put the model in eval mode first for deterministic output.
/// </summary>
public sealed class Seq2SeqStepDecoder : IStepDecoder
{
    readonly BartForConditionalGeneration model;
    readonly Tensor prefix;                                                // (Rows, P) decoder start tokens
    EncoderMemory memory;
    KvCache cache;

    /// <summary>
    /// Encodes <paramref name="inputIds"/> (B, S) with padding mask <paramref name="attentionMask"/> (B, S), 1/true at
    /// real tokens (null: none padded), once. Each source then starts <paramref name="rowsPerSource"/> rows (source b
    /// gives rows b·k .. b·k+k-1), every row from <c>decoder_start_token_id</c>. <paramref name="capacity"/> bounds the
    /// target length (default <c>max_position_embeddings</c>).
    /// </summary>
    /// <exception cref="InvalidInputException">A source is longer than <c>max_position_embeddings</c>, or the capacity is out of range.</exception>
    public Seq2SeqStepDecoder(BartForConditionalGeneration model, Tensor inputIds, Tensor? attentionMask, int rowsPerSource = 1, int? capacity = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rowsPerSource, 1);
        int max = model.Config.MaxPositionEmbeddings;
        if (capacity is < 2 || capacity > max)
            throw new InvalidInputException($"target capacity {capacity} must be in [2, max_position_embeddings = {max}]");
        this.model = model;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        memory = model.Encode(inputIds, attentionMask).Detach();
        if (rowsPerSource > 1)
        {
            using var rows = arange(inputIds.size(0), ScalarType.Int64, inputIds.device).repeat_interleave(rowsPerSource);
            memory.Reorder(rows);
        }
        prefix = full(memory.Rows, 1, model.Config.DecoderStartTokenId, ScalarType.Int64, inputIds.device).DetachFromDisposeScope();
        cache = model.NewCache(memory.Rows, capacity);
    }

    /// <inheritdoc />
    public long Rows => memory.Rows;

    /// <inheritdoc />
    public int VocabSize => model.Config.VocabSize;

    /// <inheritdoc />
    public int RemainingCapacity => cache.Capacity - cache.Length;

    /// <inheritdoc />
    public Tensor Start()
    {
        if (cache.Length != 0) throw new InvalidOperationException("Start was already called");
        using var rows = prefix.size(0) == Rows ? prefix.alias() : prefix.narrow(0, 0, 1).expand(Rows, -1).contiguous();
        return Next(rows);
    }

    /// <inheritdoc />
    public Tensor Step(Tensor tokens)
    {
        if (cache.Length == 0) throw new InvalidOperationException("Step before Start");
        using var ids = tokens.view(-1, 1);                                // (Rows, 1)
        return Next(ids);
    }

    Tensor Next(Tensor ids)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.Decode(ids, memory, cache).select(1, -1);       // (Rows, V)
        return logits.to(ScalarType.Float32).log_softmax(-1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    public void Reorder(Tensor rows)
    {
        using var scope = NewDisposeScope();
        var moved = rows.to(ScalarType.Int64).to(memory.States.device);
        memory.Reorder(moved);
        var old = cache;
        cache = old.Gather(moved);
        old.Dispose();
    }

    /// <summary>Frees the encoder memory and the cache.</summary>
    public void Dispose()
    {
        memory.Dispose();
        cache.Dispose();
        prefix.Dispose();
    }
}

/// <summary>
/// Search over an <see cref="IStepDecoder"/>: the function a predictor calls to turn a started decoder into token
/// sequences. <see cref="StepSearches.Greedy"/> is one; beam search plugs in with the same signature.
/// </summary>
/// <param name="decoder">a decoder before <see cref="IStepDecoder.Start"/>, one row per output</param>
/// <param name="maxNewTokens">the most tokens per row, the end token included</param>
/// <param name="endId">the id that ends a row; it is not part of the returned sequence</param>
public delegate IReadOnlyList<int[]> StepSearch(IStepDecoder decoder, int maxNewTokens, int endId);

/// <summary>Searches that need nothing but an <see cref="IStepDecoder"/>.</summary>
public static class StepSearches
{
    /// <summary>The most likely token at every step, for every row, until each row has produced <paramref name="endId"/>
    /// or <paramref name="maxNewTokens"/> tokens (or the decoder is full). Rows that ended keep being fed
    /// <paramref name="endId"/>; their output stops at the end token (left out).</summary>
    public static IReadOnlyList<int[]> Greedy(IStepDecoder decoder, int maxNewTokens, int endId)
    {
        int rows = (int)decoder.Rows;
        var outputs = Enumerable.Range(0, rows).Select(_ => new List<int>()).ToArray();
        var done = new bool[rows];
        using var scope = NewDisposeScope();
        var logProbs = decoder.Start();                                    // (Rows, V)
        for (int t = 0; t < maxNewTokens; t++)
        {
            var next = logProbs.argmax(-1);                                // (Rows)
            long[] ids = next.data<long>().ToArray();
            for (int r = 0; r < rows; r++)
            {
                if (done[r]) continue;
                if (ids[r] == endId) done[r] = true;
                else outputs[r].Add((int)ids[r]);
            }
            if (done.All(d => d) || t == maxNewTokens - 1 || decoder.RemainingCapacity == 0) break;
            for (int r = 0; r < rows; r++) if (done[r]) ids[r] = endId;
            using var fed = tensor(ids, device: next.device);
            logProbs = decoder.Step(fed);
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }
}
