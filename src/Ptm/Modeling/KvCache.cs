using Ptm.Kernels;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Modeling;

/// <summary>
/// Keys and values of every layer for the tokens generated so far, preallocated to the full context so
/// generation never reallocates: step t writes position t and attends over [0, t].
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly LayerKvCache[] layers;

    public KvCache(int nLayer, long batch, int nHead, int capacity, int headSize, ScalarType dtype, Device device)
    {
        Capacity = capacity;
        layers = new LayerKvCache[nLayer];
        for (int i = 0; i < nLayer; i++) layers[i] = new LayerKvCache(this, batch, nHead, capacity, headSize, dtype, device);
    }

    public int Capacity { get; }

    /// <summary>Number of positions filled so far.</summary>
    public int Length { get; private set; }

    public LayerKvCache this[int layer] => layers[layer];

    /// <summary>Marks <paramref name="count"/> more positions filled; call once per forward, after every layer wrote.</summary>
    internal void Advance(int count) => Length += count;

    public void Reset() => Length = 0;

    public void Dispose()
    {
        foreach (var l in layers) l.Dispose();
    }
}

public sealed class LayerKvCache : IDisposable
{
    readonly KvCache owner;
    readonly Tensor keys;   // (B, nh, capacity, hs)
    readonly Tensor values; // (B, nh, capacity, hs)

    internal LayerKvCache(KvCache owner, long batch, int nHead, int capacity, int headSize, ScalarType dtype, Device device)
    {
        this.owner = owner;
        // Uninitialised: attention only ever reads the positions already written (narrow to Length), and filling the
        // whole context up front would put every page fault of the buffer into the time to the first token.
        keys = empty([batch, nHead, capacity, headSize], dtype, device);
        values = empty([batch, nHead, capacity, headSize], dtype, device);
    }

    /// <summary>Writes the new keys/values at the current position and returns views over all filled positions.</summary>
    public (Tensor Keys, Tensor Values) Append(Tensor k, Tensor v)
    {
        long past = owner.Length;
        long t = k.shape[2];
        if (past + t > owner.Capacity)
            throw new InvalidOperationException($"KV cache is full: {past} + {t} positions exceed its capacity {owner.Capacity}");
        using (no_grad())
        {
            keys.narrow(2, past, t).copy_(k);
            values.narrow(2, past, t).copy_(v);
        }
        return (keys.narrow(2, 0, past + t), values.narrow(2, 0, past + t));
    }

    public long Past => owner.Length;

    /// <summary>Where the keys and values live: the same for the cache's whole life, as it is never reallocated.</summary>
    internal (nint Keys, nint Values) Addresses => (TensorMemory.Address(keys), TensorMemory.Address(values));

    public void Dispose()
    {
        keys.Dispose();
        values.Dispose();
    }
}
