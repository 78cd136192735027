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
/// Marks one version need of an ELF64 little-endian shared library as weak (VER_FLG_WEAK) and resets the
/// version index of every dynamic symbol bound to it to "global", so the loader no longer refuses the file
/// when no loaded library defines that version. The file is rewritten through a temporary file and a rename.
/// </summary>
public class PtmWeakenElfVersionNeed : Task
{
    [Required] public string Library { get; set; } = "";
    [Required] public string Version { get; set; } = "";
    [Output] public int SymbolsCleared { get; set; }

    const uint ShtGnuVerneed = 0x6ffffffe;
    const uint ShtGnuVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        byte[] b = File.ReadAllBytes(Library);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
        {
            Log.LogError("Ptm: " + Library + " is not a 64-bit little-endian ELF file");
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
            Log.LogMessage(MessageImportance.Low, "Ptm: " + Library + " has no symbol versioning; nothing to do");
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
            Log.LogMessage(MessageImportance.Normal, "Ptm: " + Library + " does not need " + Version + "; nothing to do");
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

        string temp = Library + ".ptm-tmp";
        File.WriteAllBytes(temp, b);
        File.Replace(temp, Library, null); // rename(2) on Unix: atomic
        Log.LogMessage(MessageImportance.High, "Ptm: marked " + Version + " weak in " + Path.GetFileName(Library) + " (" + cleared + " symbol(s) unversioned)");
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
