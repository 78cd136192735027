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

    KvCache(LayerKvCache[] source, int rows)
    {
        Capacity = source[0].Owner.Capacity;
        layers = new LayerKvCache[source.Length];
        for (int i = 0; i < source.Length; i++) layers[i] = new LayerKvCache(this, source[i].Keys.narrow(0, 0, rows), source[i].Values.narrow(0, 0, rows));
    }

    /// <summary>A cache over the first <paramref name="rows"/> rows of this one's buffers (shared storage, its own
    /// <see cref="Length"/>, starting at 0): a serving batch keeps one buffer for all its slots and runs each step over
    /// only the slots in use. Disposing the view frees only its handles; it must not outlive this cache.</summary>
    internal KvCache FirstRows(int rows) => new(layers, rows);

    /// <summary>The most positions the cache holds; a forward pass past it throws.</summary>
    public int Capacity { get; }

    /// <summary>Number of positions filled so far.</summary>
    public int Length { get; private set; }

    /// <summary>The keys and values of layer <paramref name="layer"/> (0-based), owned by this cache.</summary>
    public LayerKvCache this[int layer] => layers[layer];

    /// <summary>Marks <paramref name="count"/> more positions filled; call once per forward, after every layer wrote.</summary>
    internal void Advance(int count) => Length += count;

    /// <summary>Sets the filled length directly (a serving batch that moves its rows' windows itself).</summary>
    internal void SetLength(int length)
    {
        if (length < 0 || length > Capacity) throw new ArgumentOutOfRangeException(nameof(length), length, $"must be in [0, {Capacity}]");
        Length = length;
    }

    /// <summary>Empties the cache for a new sequence without freeing its buffers (old entries are overwritten).</summary>
    public void Reset() => Length = 0;

    /// <summary>A new cache of the same capacity whose row i holds this cache's row <paramref name="rows"/>[i] ((N) int64;
    /// rows may repeat or be left out), with the same filled length: what beam search needs when it keeps, drops or
    /// duplicates hypotheses. Only the filled positions are copied. This cache is unchanged; the caller disposes both.</summary>
    public KvCache Gather(Tensor rows)
    {
        var first = layers[0];
        var gathered = new KvCache(layers.Length, rows.size(0), first.Heads, Capacity, first.HeadSize, first.DType, first.Device);
        gathered.Length = Length;
        for (int i = 0; i < layers.Length; i++) layers[i].CopyRowsTo(gathered.layers[i], rows, Length);
        return gathered;
    }

    /// <summary>
    /// Makes every row of this cache hold the filled positions of row 0 of <paramref name="source"/>: a shared prefix
    /// run once (batch 1) and continued in several rows (candidate continuations), without recomputing it.
    /// <see cref="Length"/> becomes the source's. Both caches must come from the same model.
    /// </summary>
    /// <exception cref="InvalidOperationException">The layer counts differ or the prefix exceeds this cache's capacity.</exception>
    public void CopyPrefixFrom(KvCache source)
    {
        if (source.layers.Length != layers.Length)
            throw new InvalidOperationException($"KV cache has {layers.Length} layers, the source {source.layers.Length}");
        if (source.Length > Capacity)
            throw new InvalidOperationException($"KV cache is full: a prefix of {source.Length} positions exceeds its capacity {Capacity}");
        for (int i = 0; i < layers.Length; i++) layers[i].CopyPrefixFrom(source.layers[i], source.Length);
        Length = source.Length;
    }

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
        // Detached: the cache owns its buffers even when made inside a dispose scope (Gather runs in one).
        keys = empty([batch, nHead, capacity, headSize], dtype, device).DetachFromDisposeScope();
        values = empty([batch, nHead, capacity, headSize], dtype, device).DetachFromDisposeScope();
    }

    /// <summary>A layer over existing buffers (views of another cache's, for <see cref="KvCache.FirstRows"/>).</summary>
    internal LayerKvCache(KvCache owner, Tensor keys, Tensor values)
    {
        this.owner = owner;
        this.keys = keys.DetachFromDisposeScope();
        this.values = values.DetachFromDisposeScope();
    }

    internal KvCache Owner => owner;

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

    internal int Heads => (int)keys.size(1);
    internal int HeadSize => (int)keys.size(3);
    internal ScalarType DType => keys.dtype;
    internal Device Device => keys.device;

    /// <summary>Writes rows <paramref name="rows"/> of the first <paramref name="length"/> positions into
    /// <paramref name="target"/>'s buffers (row i of the target gets row rows[i]).</summary>
    internal void CopyRowsTo(LayerKvCache target, Tensor rows, long length)
    {
        if (length == 0) return;
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            target.keys.narrow(2, 0, length).copy_(keys.narrow(2, 0, length).index_select(0, rows));
            target.values.narrow(2, 0, length).copy_(values.narrow(2, 0, length).index_select(0, rows));
        }
    }

    /// <summary>Copies positions [0, <paramref name="length"/>) of row 0 of <paramref name="source"/> into every row.</summary>
    internal void CopyPrefixFrom(LayerKvCache source, int length)
    {
        if (length == 0) return;
        using var scope = NewDisposeScope();
        using (no_grad())
        {
            keys.narrow(2, 0, length).copy_(source.keys.narrow(0, 0, 1).narrow(2, 0, length));     // (1, nh, L, hs) broadcast over B
            values.narrow(2, 0, length).copy_(source.values.narrow(0, 0, 1).narrow(2, 0, length));
        }
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
