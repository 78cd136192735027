
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

    /// <summary>Split name, "train" or "validation".</summary>
    public string Split { get; }
    /// <summary>Path of the mapped <c>*.bert.bin</c> file.</summary>
    public string Path { get; }
    /// <summary>The folder's manifest: options, vocabulary and split statistics.</summary>
    public BertDataManifest Manifest { get; }
    /// <summary>Number of instances in the split.</summary>
    public long Count { get; }
    /// <summary>Tokens per record, padding included (the manifest's MaxSeqLength).</summary>
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

    /// <summary>Maps <paramref name="split"/> of the BERT folder <paramref name="directory"/>; the caller disposes the result.</summary>
    /// <exception cref="InvalidInputException">The manifest is missing or invalid, or the split's file is missing or its size does not match instances × record size.</exception>
    public static BertPretrainingDataset Open(string directory, string split)
    {
        BertDataManifest manifest = BertDataManifest.Load(directory);
        long instances = manifest.Splits.TryGetValue(split, out BertSplitInfo? info) ? info.Instances : 0;
        string path = MappedFile.SplitPath(directory, manifest.Splits, split, i => i.File, instances, manifest.RecordSize,
            $"instances × {manifest.RecordSize} bytes");
        return new BertPretrainingDataset(split, path, manifest, instances);
    }

    /// <summary>Decodes instance <paramref name="index"/> (unmasked tokens plus its stored static mask, if any) into a new object.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is outside [0, Count).</exception>
    /// <exception cref="ObjectDisposedException">The dataset is disposed.</exception>
    /// <exception cref="InvalidInputException">The record is corrupt.</exception>
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

    /// <summary>Unmaps the file; later reads throw <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        mapped.Dispose();
    }
}
