namespace Ptm.IO;

/// <summary>Where paths lie relative to a folder, for code that deletes or replaces folders.</summary>
internal static class FolderPaths
{
    /// <summary>Whether <paramref name="path"/> is <paramref name="folder"/> or lies below it (both made full paths,
    /// trailing separators ignored).</summary>
    public static bool IsSameOrInside(string path, string folder)
    {
        string f = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string p = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
        return p == f || p.StartsWith(f + Path.DirectorySeparatorChar, StringComparison.Ordinal);
    }
}
