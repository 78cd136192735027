// MSBuild tasks (compiled by RoslynCodeTaskFactory) that make TorchSharp's native library load on
// systems whose libstdc++ is older than the one it was linked against. See docs/native-loading.md.
#nullable enable
using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>Reports whether the libstdc++ the dynamic loader would pick defines a given symbol version.</summary>
public class PtmLibStdCxxHasVersion : Task
{
    [Required] public string Version { get; set; } = "";
    [Output] public bool HasVersion { get; set; }
    [Output] public string LibraryPath { get; set; } = "";

    public override bool Execute()
    {
        LibraryPath = FindLibStdCxx() ?? "";
        if (LibraryPath.Length == 0)
        {
            Log.LogWarning("Ptm: could not locate libstdc++.so.6; assuming it lacks " + Version);
            HasVersion = false;
            return true;
        }
        byte[] bytes = File.ReadAllBytes(LibraryPath);
        byte[] needle = Encoding.ASCII.GetBytes(Version + "\0");
        HasVersion = IndexOf(bytes, needle) >= 0;
        return true;
    }

    static string? FindLibStdCxx()
    {
        try
        {
            var psi = new ProcessStartInfo("/sbin/ldconfig", "-p") { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            foreach (string line in output.Split('\n'))
            {
                if (!line.TrimStart().StartsWith("libstdc++.so.6 ", StringComparison.Ordinal) || !line.Contains("x86-64")) continue;
                int arrow = line.IndexOf("=> ", StringComparison.Ordinal);
                if (arrow >= 0) return line.Substring(arrow + 3).Trim();
            }
        }
        catch (Exception) { /* fall through to the usual locations */ }
        foreach (string candidate in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
            if (File.Exists(candidate)) return candidate;
        return null;
    }

    static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }
}

/// <summary>
/// Writes a copy of an ELF64 little-endian shared library (<see cref="Source"/>, e.g. the NuGet cache's file, which is
/// never modified) to <see cref="Destination"/> with one version need marked weak (VER_FLG_WEAK) and the version index
/// of every dynamic symbol bound to it reset to "global", so the loader no longer refuses the file when no loaded
/// library defines that version. Nothing is written when the destination already holds those bytes; otherwise the
/// bytes go to a temporary file of this process and are renamed over the destination (<see cref="PtmAtomicFile"/>).
/// </summary>
public class PtmWeakenElfVersionNeed : Task
{
    [Required] public string Source { get; set; } = "";
    [Required] public string Destination { get; set; } = "";
    [Required] public string Version { get; set; } = "";
    [Output] public int SymbolsCleared { get; set; }
    [Output] public bool Written { get; set; }

    const uint ShtGnuVerneed = 0x6ffffffe;
    const uint ShtGnuVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        byte[] b = File.ReadAllBytes(Source);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
        {
            Log.LogError("Ptm: " + Source + " is not a 64-bit little-endian ELF file");
            return false;
        }
        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3a);
        int shnum = BitConverter.ToUInt16(b, 0x3c);

        long verneedOff = -1, verneedCount = 0, verneedStrOff = 0, versymOff = -1, versymSize = 0;
        for (int i = 0; i < shnum; i++)
        {
            int o = checked((int)shoff + i * shentsize);
            uint type = BitConverter.ToUInt32(b, o + 4);
            long off = (long)BitConverter.ToUInt64(b, o + 24);
            long size = (long)BitConverter.ToUInt64(b, o + 32);
            uint link = BitConverter.ToUInt32(b, o + 40);
            uint info = BitConverter.ToUInt32(b, o + 44);
            if (type == ShtGnuVerneed)
            {
                verneedOff = off;
                verneedCount = info;
                int linked = checked((int)shoff + (int)link * shentsize);
                verneedStrOff = (long)BitConverter.ToUInt64(b, linked + 24);
            }
            else if (type == ShtGnuVersym)
            {
                versymOff = off;
                versymSize = size;
            }
        }
        if (verneedOff < 0 || versymOff < 0)
        {
            Log.LogMessage(MessageImportance.Low, "Ptm: " + Source + " has no symbol versioning; copied as it is");
            Written = PtmAtomicFile.WriteIfChanged(Destination, b);
            return true;
        }

        int versionIndex = -1;
        long entry = verneedOff;
        for (long n = 0; n < verneedCount; n++)
        {
            int count = BitConverter.ToUInt16(b, (int)entry + 2);
            uint auxOffset = BitConverter.ToUInt32(b, (int)entry + 8);
            uint nextOffset = BitConverter.ToUInt32(b, (int)entry + 12);
            long aux = entry + auxOffset;
            for (int a = 0; a < count; a++)
            {
                ushort flags = BitConverter.ToUInt16(b, (int)aux + 4);
                ushort other = BitConverter.ToUInt16(b, (int)aux + 6);
                uint name = BitConverter.ToUInt32(b, (int)aux + 8);
                uint next = BitConverter.ToUInt32(b, (int)aux + 12);
                if (ReadCString(b, verneedStrOff + name) == Version)
                {
                    versionIndex = other;
                    WriteUInt16(b, aux + 4, (ushort)(flags | VerFlgWeak));
                }
                aux += next;
            }
            entry += nextOffset;
        }
        if (versionIndex < 0)
        {
            Log.LogMessage(MessageImportance.Normal, "Ptm: " + Source + " does not need " + Version + "; copied as it is");
            Written = PtmAtomicFile.WriteIfChanged(Destination, b);
            return true;
        }

        int cleared = 0;
        for (long i = 0; i < versymSize / 2; i++)
        {
            long at = versymOff + 2 * i;
            ushort v = BitConverter.ToUInt16(b, (int)at);
            if ((v & 0x7fff) == versionIndex)
            {
                WriteUInt16(b, at, 1);
                cleared++;
            }
        }
        SymbolsCleared = cleared;

        Written = PtmAtomicFile.WriteIfChanged(Destination, b);
        if (Written)
            Log.LogMessage(MessageImportance.High, "Ptm: marked " + Version + " weak in " + Destination + " (" + cleared + " symbol(s) unversioned)");
        return true;
    }

    static string ReadCString(byte[] b, long at)
    {
        int end = (int)at;
        while (b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)at, end - (int)at);
    }

    static void WriteUInt16(byte[] b, long at, ushort value)
    {
        b[at] = (byte)value;
        b[at + 1] = (byte)(value >> 8);
    }
}

/// <summary>
/// Copies a file (a compiled shim, the patched TorchSharp library) into the output folder the way a running program
/// can bear: nothing is written when the destination already has the same bytes (so its mtime and inode stay, and an
/// up-to-date build touches nothing); otherwise the bytes go to a temporary file named for this process and are
/// renamed over the destination, so a process that loads the library at that moment sees the old file or the new
/// one, never a truncated one, and two builds writing at once cannot trip over each other's temporary file.
/// </summary>
public class PtmInstallFile : Task
{
    [Required] public string Source { get; set; } = "";
    [Required] public string Destination { get; set; } = "";
    [Output] public bool Written { get; set; }

    public override bool Execute()
    {
        Written = PtmAtomicFile.WriteIfChanged(Destination, File.ReadAllBytes(Source));
        if (Written) Log.LogMessage(MessageImportance.Normal, "Ptm: installed " + Source + " as " + Destination);
        return true;
    }
}

/// <summary>The one write path of these tasks: compare, then temporary file and rename(2).</summary>
public static class PtmAtomicFile
{
    /// <summary>Makes <paramref name="path"/> hold <paramref name="bytes"/>; returns false without touching the file
    /// when it already does.</summary>
    public static bool WriteIfChanged(string path, byte[] bytes)
    {
        if (SameBytes(path, bytes)) return false;
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        string temp = path + "." + Process.GetCurrentProcess().Id + "." + Guid.NewGuid().ToString("N").Substring(0, 8) + ".ptm-tmp";
        try
        {
            File.WriteAllBytes(temp, bytes);
            // rename(2) on Unix either way (atomic on one file system); Replace needs an existing destination.
            if (File.Exists(path)) File.Replace(temp, path, null);
            else File.Move(temp, path);
        }
        catch (IOException) when (File.Exists(path) && SameBytes(path, bytes))
        {
            // A parallel build created the same file between our check and our move: nothing left to do.
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return true;
    }

    static bool SameBytes(string path, byte[] bytes)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length != bytes.Length) return false;
            byte[] existing = File.ReadAllBytes(path);
            for (int i = 0; i < bytes.Length; i++)
                if (existing[i] != bytes[i]) return false;
            return true;
        }
        catch (IOException) { return false; } // replaced under us by a parallel build: write our own copy
    }
}
