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

    /// <summary>Buffers for <paramref name="nLayer"/> layers, each keys and values (batch, nHead, capacity, headSize) of
    /// <paramref name="dtype"/> on <paramref name="device"/>, left uninitialised; <see cref="Gpt.NewCache"/> fills these
    /// in from the model. The cache owns the buffers; dispose it to free them.</summary>
    public KvCache(int nLayer, long batch, int nHead, int capacity, int headSize, ScalarType dtype, Device device)
    {
        Capacity = capacity;
        layers = new LayerKvCache[nLayer];
        for (int i = 0; i < nLayer; i++) layers[i] = new LayerKvCache(this, batch, nHead, capacity, headSize, dtype, device);
    }

    /// <summary>The most positions the cache holds; a forward pass past it throws.</summary>
    public int Capacity { get; }

    /// <summary>Number of positions filled so far.</summary>
    public int Length { get; private set; }

    /// <summary>The keys and values of layer <paramref name="layer"/> (0-based), owned by this cache.</summary>
    public LayerKvCache this[int layer] => layers[layer];

    /// <summary>Marks <paramref name="count"/> more positions filled; call once per forward, after every layer wrote.</summary>
    internal void Advance(int count) => Length += count;

    /// <summary>Empties the cache for a new sequence without freeing its buffers (old entries are overwritten).</summary>
    public void Reset() => Length = 0;

    /// <summary>Frees every layer's buffers; views returned by <see cref="LayerKvCache.Append"/> must not be used after.</summary>
    public void Dispose()
    {
        foreach (var l in layers) l.Dispose();
    }
}

/// <summary>One layer's part of a <see cref="KvCache"/>: keys and values (B, nh, capacity, hs), filled up to the
/// cache's <see cref="KvCache.Length"/>.</summary>
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

    /// <summary>Writes the new keys/values <paramref name="k"/>, <paramref name="v"/> (B, nh, t, hs) at the current position
    /// and returns views (B, nh, past + t, hs) over all filled positions. The views share the cache's storage; their
    /// handles belong to the caller's dispose scope.</summary>
    /// <exception cref="InvalidOperationException">past + t exceeds <see cref="KvCache.Capacity"/>.</exception>
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

    /// <summary>The whole key buffer (B, nh, capacity, hs), for copying rows between caches (a serving batch regrouping).</summary>
    internal Tensor Keys => keys;

    /// <summary>The whole value buffer (B, nh, capacity, hs).</summary>
    internal Tensor Values => values;

    /// <summary>Positions filled before the current forward pass (the cache's <see cref="KvCache.Length"/>).</summary>
    public long Past => owner.Length;

    /// <summary>Where the keys and values live: the same for the cache's whole life, as it is never reallocated.</summary>
    internal (nint Keys, nint Values) Addresses => (TensorMemory.Address(keys), TensorMemory.Address(values));

    /// <summary>Frees this layer's key and value buffers.</summary>
    public void Dispose()
    {
        keys.Dispose();
        values.Dispose();
    }
}
