using System.Buffers.Binary;

namespace Ptm.Data;

/// <summary>
/// The fixed-size binary record of one instance in a <c>*.bert.bin</c> file (little-endian, no file header; the
/// manifest gives the record size). Fixed size makes instance i a seek to i × Size, so the file can be memory-mapped
/// and sampled at random. The tokens are stored unmasked and the static mask beside them, so one file serves both
/// static masking (apply the stored mask) and dynamic masking (ignore it).
/// <code>
/// offset            size        field
/// 0                 2  uint16   length: real tokens incl. [CLS]/[SEP]; the rest of ids is [PAD]
/// 2                 2  uint16   segmentBStart: first position of token type 1 (= length when there is no B)
/// 4                 1  uint8    pair label: 0, 1, or 255 = none (packed, nsp: false)
/// 5                 1  uint8    maskCount: stored static mask entries (0 under dynamic masking)
/// 6                 L·w         ids: L = maxSeqLength, w = 2 (uint16) or 4 (int32)
/// 6 + L·w           P·2 uint16  mask positions, ascending (P = maxPredictionsPerSeq, 0 when masks are dynamic)
/// 6 + L·w + 2P      P·w         mask replacement ids (the labels are the unmasked ids at the positions)
/// </code>
/// </summary>
internal sealed record BertInstanceRecord(int MaxSeqLength, int MaskSlots, int IdSize)
{
    const int HeaderSize = 6;
    const byte NoLabel = 255;

    public int Size => HeaderSize + MaxSeqLength * IdSize + MaskSlots * (2 + IdSize);

    public void Write(BertInstance instance, int padId, Span<byte> record)
    {
        if (instance.Length > MaxSeqLength) throw new ArgumentException($"instance of {instance.Length} tokens exceeds {MaxSeqLength}");
        if (instance.Mask.Positions.Length > MaskSlots) throw new ArgumentException($"mask of {instance.Mask.Positions.Length} exceeds {MaskSlots} slots");
        record.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(record, (ushort)instance.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(record[2..], (ushort)instance.SegmentBStart);
        record[4] = instance.PairLabel == BertInstance.NoPairLabel ? NoLabel : checked((byte)instance.PairLabel);
        record[5] = (byte)instance.Mask.Positions.Length;
        for (int i = 0; i < MaxSeqLength; i++) WriteId(record[(HeaderSize + i * IdSize)..], i < instance.Length ? instance.Tokens[i] : padId);
        int positions = HeaderSize + MaxSeqLength * IdSize, replacements = positions + 2 * MaskSlots;
        for (int k = 0; k < instance.Mask.Positions.Length; k++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(record[(positions + 2 * k)..], (ushort)instance.Mask.Positions[k]);
            WriteId(record[(replacements + k * IdSize)..], instance.Mask.Replacements[k]);
        }
    }

    public BertInstance Read(ReadOnlySpan<byte> record)
    {
        int length = BinaryPrimitives.ReadUInt16LittleEndian(record);
        int bStart = BinaryPrimitives.ReadUInt16LittleEndian(record[2..]);
        int label = record[4] == NoLabel ? BertInstance.NoPairLabel : record[4];
        int maskCount = record[5];
        if (length > MaxSeqLength || bStart > length || maskCount > MaskSlots)
            throw new InvalidInputException($"corrupt instance record (length {length}, segment B start {bStart}, {maskCount} masked)");
        var tokens = new int[length];
        for (int i = 0; i < length; i++) tokens[i] = ReadId(record[(HeaderSize + i * IdSize)..]);
        int positions = HeaderSize + MaxSeqLength * IdSize, replacements = positions + 2 * MaskSlots;
        var mask = maskCount == 0 ? MlmMask.Empty : new MlmMask(new int[maskCount], new int[maskCount]);
        for (int k = 0; k < maskCount; k++)
        {
            mask.Positions[k] = BinaryPrimitives.ReadUInt16LittleEndian(record[(positions + 2 * k)..]);
            mask.Replacements[k] = ReadId(record[(replacements + k * IdSize)..]);
            if (mask.Positions[k] >= length) throw new InvalidInputException($"corrupt instance record (mask position {mask.Positions[k]} ≥ length {length})");
        }
        return new BertInstance(tokens, bStart, label, mask);
    }

    void WriteId(Span<byte> at, int id)
    {
        if (IdSize == 2) BinaryPrimitives.WriteUInt16LittleEndian(at, checked((ushort)id));
        else BinaryPrimitives.WriteInt32LittleEndian(at, id);
    }

    int ReadId(ReadOnlySpan<byte> at) => IdSize == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(at) : BinaryPrimitives.ReadInt32LittleEndian(at);
}
