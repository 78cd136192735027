namespace Ptm.Tokenization;

/// <summary>A span [Start, End) of UTF-16 positions in the original text; special tokens get (0, 0).</summary>
public readonly record struct CharSpan(int Start, int End)
{
/// <summary>End - Start.</summary>
    public int Length => End - Start;
}
