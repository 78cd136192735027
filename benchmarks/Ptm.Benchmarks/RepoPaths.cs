namespace Ptm.Benchmarks;

/// <summary>Finds the repository (the folder holding Ptm.slnx) from the build output or the working directory.</summary>
public static class RepoPaths
{
    public static string? FindRoot()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Ptm.slnx"))) return dir.FullName;
        }
        return null;
    }

    /// <summary>A path inside the repository; throws with a clear message when the repository cannot be found.</summary>
    public static string InRepo(params string[] parts)
    {
        string root = FindRoot() ?? throw new InvalidInputException(
            "cannot find the repository (no Ptm.slnx above the build output or the working directory)");
        return Path.Combine([root, .. parts]);
    }
}
