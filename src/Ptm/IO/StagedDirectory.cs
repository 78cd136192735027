namespace Ptm.IO;

/// <summary>
/// Fills a new folder so that a failure part-way leaves nothing behind: the files go into a hidden sibling
/// folder, which is renamed into place only once complete. An existing non-empty target is refused rather
/// than mixed with new files.
/// </summary>
public static class StagedDirectory
{
    /// <summary>Creates <paramref name="dir"/> with the files <paramref name="fill"/> writes into the staging folder it is given.</summary>
    /// <exception cref="InvalidInputException"><paramref name="dir"/> is a file or a non-empty folder.</exception>
    public static void Create(string dir, Action<string> fill)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir));
        if (File.Exists(full)) throw new InvalidInputException($"{dir}: is a file; give a folder to create");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new InvalidInputException($"{dir}: already exists and is not empty; give a new folder");
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string temp = Path.Combine(parent, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(temp);
            fill(temp);
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(temp, full);
        }
        catch
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, true); }
            catch (IOException) { }
            throw;
        }
    }
}
