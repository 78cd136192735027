namespace Ptm.Tokenization;

/// <summary>
/// Normalised text in which every UTF-16 unit remembers the span of the original text it came from. Lower-casing
/// and accent stripping change lengths ("ﬀ", "Å" → "A" + mark → "A"), so offsets cannot be recomputed afterwards;
/// carrying them per character keeps token offsets pointing at the original characters.
/// </summary>
internal sealed class OffsetText
{
    char[] chars = new char[256];
    int[] starts = new int[256];
    int[] ends = new int[256];

    public int Count { get; private set; }

    public ReadOnlySpan<char> Chars => chars.AsSpan(0, Count);
    public ReadOnlySpan<char> Slice(int start, int length) => chars.AsSpan(start, length);
    public int StartOf(int index) => starts[index];
    public int EndOf(int index) => ends[index];

    public void Clear() => Count = 0;

    public void Append(char c, int start, int end)
    {
        if (Count == chars.Length)
        {
            Array.Resize(ref chars, Count * 2);
            Array.Resize(ref starts, Count * 2);
            Array.Resize(ref ends, Count * 2);
        }
        chars[Count] = c;
        starts[Count] = start;
        ends[Count] = end;
        Count++;
    }

    public void Append(ReadOnlySpan<char> s, int start, int end)
    {
        foreach (char c in s) Append(c, start, end);
    }
}
