using System.Buffers;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Unicode;

namespace Ptm.Data;

/// <summary>One training document: a whole file, or one form-feed-separated part of it.</summary>
/// <param name="Path">The file it came from, as resolved from the spec.</param>
/// <param name="Index">Its position among the documents of that file, from 0.</param>
/// <param name="Text">Its text, with surrounding blank lines trimmed and exactly one final newline.</param>
public sealed record TextDocument(string Path, int Index, string Text);

/// <summary>
/// Turns an input spec into an ordered list of documents. A spec is a file, a folder (every <c>*.txt</c> and
/// <c>*.txt.gz</c> below it), or a glob (<c>*</c> and <c>?</c> within one path segment, <c>**</c> across segments).
/// Files are read as strict UTF-8 (a leading BOM is skipped); <c>.gz</c> files are decompressed first.
/// </summary>
/// <remarks>
/// A file splits into documents at lines that hold only a form feed (U+000C, optionally with spaces, tabs or a CR
/// around it), the convention data/kjv uses between books; a file without such lines is one document. Each document's
/// leading blank lines and trailing whitespace are dropped and one newline is appended, so the text the model sees
/// between document boundaries does not depend on how the separators were padded. Documents left empty are skipped.
/// </remarks>
public static class TextSource
{
    /// <summary>Form feed (U+000C): a line holding only this character separates two documents.</summary>
    public const char DocumentSeparator = '\f';

    /// <summary>The files <paramref name="spec"/> names, in the order their documents are read.</summary>
    public static IReadOnlyList<string> ResolveFiles(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new InvalidInputException("input spec is empty");
        if (spec.IndexOfAny(['*', '?']) >= 0) return ResolveGlob(spec);
        if (Directory.Exists(spec))
            return SortedFiles(spec, Directory.EnumerateFiles(spec, "*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".txt", StringComparison.Ordinal) || f.EndsWith(".txt.gz", StringComparison.Ordinal)));
        if (File.Exists(spec)) return [spec];
        throw new InvalidInputException($"{spec}: no such file or directory");
    }

    /// <summary>All documents of all files of <paramref name="spec"/>, in order; throws if there are none.</summary>
    public static IReadOnlyList<TextDocument> Load(string spec)
    {
        var documents = new List<TextDocument>();
        foreach (string path in ResolveFiles(spec))
        {
            int index = 0;
            foreach (string text in SplitDocuments(ReadText(path)))
                documents.Add(new TextDocument(path, index++, text));
        }
        if (documents.Count == 0) throw new InvalidInputException($"{spec}: corpus is empty");
        return documents;
    }

    /// <summary>Reads a file as strict UTF-8, decompressing <c>.gz</c> files.</summary>
    public static string ReadText(string path)
    {
        byte[] bytes;
        try
        {
            if (path.EndsWith(".gz", StringComparison.Ordinal))
            {
                using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
                using var buffer = new MemoryStream();
                gz.CopyTo(buffer);
                bytes = buffer.ToArray();
            }
            else bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException) { throw new InvalidInputException($"{path}: no such file or directory"); }
        catch (DirectoryNotFoundException) { throw new InvalidInputException($"{path}: no such file or directory"); }
        catch (InvalidDataException e) { throw new InvalidInputException($"{path}: not a valid gzip file ({e.Message})", e); }
        return DecodeStrict(path, bytes);
    }

    /// <summary>Splits one file's text at form-feed lines and normalizes each document (see the type's remarks).</summary>
    public static IReadOnlyList<string> SplitDocuments(string text)
    {
        var documents = new List<string>();
        int documentStart = 0, searchFrom = 0;
        while (true)
        {
            int ff = text.IndexOf(DocumentSeparator, searchFrom);
            if (ff < 0) break;
            int lineStart = text.LastIndexOf('\n', ff) + 1; // -1 + 1 = 0 on the first line
            int newline = text.IndexOf('\n', ff);
            int lineEnd = newline < 0 ? text.Length : newline;
            searchFrom = newline < 0 ? text.Length : newline + 1;
            if (lineStart < documentStart) continue; // a second form feed on a line already handled
            if (text.AsSpan(lineStart, lineEnd - lineStart).Trim(" \t\r").SequenceEqual("\f"))
            {
                AddNormalized(documents, text.AsSpan(documentStart, lineStart - documentStart));
                documentStart = searchFrom;
            }
        }
        AddNormalized(documents, text.AsSpan(documentStart));
        return documents;
    }

    static void AddNormalized(List<string> documents, ReadOnlySpan<char> part)
    {
        ReadOnlySpan<char> trimmed = part.TrimEnd();
        if (trimmed.IsEmpty) return;
        // Drop whole leading blank lines but keep the first line's own indentation.
        int firstText = trimmed.IndexOfAnyExcept(" \t\r\n");
        int lineStart = trimmed[..firstText].LastIndexOf('\n') + 1;
        documents.Add(string.Concat(trimmed[lineStart..], "\n"));
    }

    static string DecodeStrict(string path, byte[] bytes)
    {
        int bom = bytes.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        ReadOnlySpan<byte> body = bytes.AsSpan(bom);
        char[] chars = ArrayPool<char>.Shared.Rent(Math.Max(1, body.Length)); // UTF-16 never needs more units than UTF-8 bytes
        try
        {
            OperationStatus status = Utf8.ToUtf16(body, chars, out int read, out int written, replaceInvalidSequences: false);
            if (status != OperationStatus.Done)
                throw new InvalidInputException($"{path}: not valid UTF-8 (byte offset {bom + read})");
            return new string(chars, 0, written);
        }
        finally { ArrayPool<char>.Shared.Return(chars); }
    }

    static IReadOnlyList<string> ResolveGlob(string spec)
    {
        string normalized = spec.Replace('\\', '/');
        string[] segments = normalized.Split('/');
        int firstWild = Array.FindIndex(segments, s => s.IndexOfAny(['*', '?']) >= 0);
        string root = string.Join('/', segments[..firstWild]);
        if (root.Length == 0) root = normalized.StartsWith('/') ? "/" : ".";
        if (!Directory.Exists(root)) throw new InvalidInputException($"{root}: no such file or directory");

        var pattern = new Regex("^" + GlobToRegex(segments[firstWild..]) + "$", RegexOptions.CultureInvariant);
        return SortedFiles(root, Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .Where(f => pattern.IsMatch(RelativeKey(root, f))));
    }

    static string GlobToRegex(string[] segments)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < segments.Length; i++)
        {
            bool last = i == segments.Length - 1;
            if (segments[i] == "**")
            {
                // Zero or more whole folders; a trailing ** matches everything below.
                sb.Append(last ? ".*" : "(?:[^/]+/)*");
                continue;
            }
            foreach (char c in segments[i])
                sb.Append(c switch { '*' => "[^/]*", '?' => "[^/]", _ => Regex.Escape(c.ToString()) });
            if (!last) sb.Append('/');
        }
        return sb.ToString();
    }

    // Ordinal order of the '/'-separated path below the root: the same on every OS and culture.
    static IReadOnlyList<string> SortedFiles(string root, IEnumerable<string> files) =>
        files.Select(f => (Key: RelativeKey(root, f), Path: f))
             .OrderBy(x => x.Key, StringComparer.Ordinal)
             .Select(x => x.Path)
             .ToList();

    static string RelativeKey(string root, string file) => Path.GetRelativePath(root, file).Replace('\\', '/');
}
