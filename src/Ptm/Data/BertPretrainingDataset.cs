
namespace Ptm.Data;

/// <summary>
/// One split of a BERT pre-training folder, memory-mapped read-only (like <see cref="TokenDataset"/>): instance i is
/// the fixed-size record at i × RecordSize. Reads are thread-safe; dispose when done.
/// </summary>
public sealed unsafe class BertPretrainingDataset : IDisposable
{
    readonly MappedFile mapped;
    readonly byte* data;
    readonly BertInstanceRecord record;
    bool disposed;

    public string Split { get; }
    public string Path { get; }
    public BertDataManifest Manifest { get; }
    public long Count { get; }
    public int MaxSeqLength => Manifest.Options.MaxSeqLength;
    /// <summary>Whether records carry static masks; without them the batcher needs a masker.</summary>
    public bool HasStaticMasks => Manifest.MaskSlots > 0;

    BertPretrainingDataset(string split, string path, BertDataManifest manifest, long count)
    {
        (Split, Path, Manifest, Count) = (split, path, manifest, count);
        record = manifest.Record;
        mapped = new MappedFile(path, count);
        data = mapped.Pointer;
    }

    public static BertPretrainingDataset Open(string directory, string split)
    {
        BertDataManifest manifest = BertDataManifest.Load(directory);
        long instances = manifest.Splits.TryGetValue(split, out BertSplitInfo? info) ? info.Instances : 0;
        string path = MappedFile.SplitPath(directory, manifest.Splits, split, i => i.File, instances, manifest.RecordSize,
            $"instances × {manifest.RecordSize} bytes");
        return new BertPretrainingDataset(split, path, manifest, instances);
    }

    public BertInstance this[long index]
    {
        get
        {
            ObjectDisposedException.ThrowIf(disposed, this);
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            return record.Read(new ReadOnlySpan<byte>(data + index * record.Size, record.Size));
        }
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        mapped.Dispose();
    }
}
