using System.Text;

namespace Ptm.Benchmarks.Micro;

/// <summary>The KJV corpus shipped in data/kjv.</summary>
static class KjvText
{
    public static string TrainPath => RepoPaths.InRepo("data", "kjv", "train.txt");
    public static string ValidationPath => RepoPaths.InRepo("data", "kjv", "validation.txt");

    /// <summary>The first whole lines of the training text that fit in <paramref name="bytes"/> UTF-8 bytes.</summary>
    public static string Prefix(string text, int bytes)
    {
        var s = new StringBuilder();
        int used = 0;
        foreach (string line in text.Split('\n'))
        {
            int size = Encoding.UTF8.GetByteCount(line) + 1;
            if (used + size > bytes) break;
            s.Append(line).Append('\n');
            used += size;
        }
        return s.ToString();
    }
}
