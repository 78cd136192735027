using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Ptm.IO;

namespace Ptm.StaticVectors;

/// <summary>The two file layouts of Mikolov's word2vec tool, which gensim, fastText and GloVe's converters also read.</summary>
public enum WordVectorFormat
{
    /// <summary>Header line "count dimension\n", then per word "word v1 v2 … vD \n" (each value followed by a space, as
    /// word2vec.c writes them). Values are written in the shortest form that reads back to the same float, so a round
    /// trip is exact; readers accept any decimal form and lines with or without the trailing space.</summary>
    Text,

    /// <summary>Header line "count dimension\n", then per word "word " followed by D little-endian IEEE-754 float32 values
    /// and "\n" (word2vec.c's -binary 1). Readers skip newlines before a word, so files without the newline also load.</summary>
    Binary,
}

/// <summary>
/// One vector per word (a static embedding: the same vector whatever the context), with word2vec's file formats,
/// nearest neighbours and analogies by cosine similarity.
/// </summary>
public sealed class WordVectors
{
    readonly float[] data;
    readonly Dictionary<string, int> index;
    float[]? unit;

    /// <summary>Vectors for <paramref name="words"/>: row i of the row-major <paramref name="vectors"/> (words × <paramref name="dimension"/>) belongs to word i.</summary>
    /// <exception cref="ArgumentException">Sizes disagree, or a word is empty, repeated or contains whitespace (the formats separate by spaces).</exception>
    public WordVectors(IReadOnlyList<string> words, float[] vectors, int dimension)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (vectors.Length != (long)words.Count * dimension)
            throw new ArgumentException($"{words.Count} words × {dimension} dimensions need {(long)words.Count * dimension} values (got {vectors.Length})");
        index = new Dictionary<string, int>(words.Count, StringComparer.Ordinal);
        for (int i = 0; i < words.Count; i++)
        {
            string w = words[i];
            if (w.Length == 0 || w.Any(char.IsWhiteSpace)) throw new ArgumentException($"word {i} (\"{w}\") is empty or contains whitespace");
            if (!index.TryAdd(w, i)) throw new ArgumentException($"word \"{w}\" appears twice");
        }
        Words = words.ToArray();
        Dimension = dimension;
        data = vectors;
    }

    /// <summary>The vocabulary, in file order (trainers write the most frequent first).</summary>
    public IReadOnlyList<string> Words { get; }

    /// <summary>Length of every vector.</summary>
    public int Dimension { get; }

    /// <summary>Number of words.</summary>
    public int Count => Words.Count;

    /// <summary>The vector of word <paramref name="id"/>.</summary>
    public ReadOnlySpan<float> this[int id] => data.AsSpan(id * Dimension, Dimension);

    /// <summary>The id of <paramref name="word"/> (tried as given, then lower-cased), or -1.</summary>
    public int IdOf(string word) =>
        index.TryGetValue(word, out int id) ? id : index.TryGetValue(word.ToLowerInvariant(), out id) ? id : -1;

    int Require(string word) => IdOf(word) is int id and >= 0 ? id
        : throw new InvalidInputException($"\"{word}\" is not in the vocabulary ({Count} words)");

    /// <summary>Cosine similarity of two words' vectors.</summary>
    /// <exception cref="InvalidInputException">A word is not in the vocabulary.</exception>
    public double Similarity(string a, string b) => Embeddings.VectorSimilarity.Cosine(this[Require(a)], this[Require(b)]);

    /// <summary>The <paramref name="k"/> words closest to <paramref name="word"/> by cosine similarity, itself excluded.</summary>
    /// <exception cref="InvalidInputException">The word is not in the vocabulary.</exception>
    public IReadOnlyList<(string Word, double Similarity)> Nearest(string word, int k)
    {
        int id = Require(word);
        return Rank(UnitRow(id), k, [id]);
    }

    /// <summary>"<paramref name="a"/> is to <paramref name="b"/> as <paramref name="c"/> is to ?": the <paramref name="k"/>
    /// words closest to unit(b) − unit(a) + unit(c) (3CosAdd, as word2vec's word-analogy), the three inputs excluded.</summary>
    /// <exception cref="InvalidInputException">A word is not in the vocabulary.</exception>
    public IReadOnlyList<(string Word, double Similarity)> Analogy(string a, string b, string c, int k)
    {
        int ia = Require(a), ib = Require(b), ic = Require(c);
        var query = new float[Dimension];
        VectorOps.Axpy(-1f, UnitRow(ia), query);
        VectorOps.Axpy(1f, UnitRow(ib), query);
        VectorOps.Axpy(1f, UnitRow(ic), query);
        return Rank(query, k, [ia, ib, ic]);
    }

    ReadOnlySpan<float> UnitRow(int id)
    {
        if (unit is null)
        {
            var u = new float[data.Length];
            for (int i = 0; i < Count; i++)
            {
                var row = data.AsSpan(i * Dimension, Dimension);
                double norm = Math.Sqrt(VectorOps.Dot<float>(row, row));
                if (norm > 0)
                    for (int d = 0; d < Dimension; d++) u[i * Dimension + d] = (float)(row[d] / norm);
            }
            unit = u;
        }
        return unit.AsSpan(id * Dimension, Dimension);
    }

    IReadOnlyList<(string Word, double Similarity)> Rank(ReadOnlySpan<float> query, int k, int[] exclude)
    {
        double qn = Math.Sqrt(VectorOps.Dot(query, query));
        var scored = new List<(string, double)>(Count);
        for (int i = 0; i < Count; i++)
        {
            if (exclude.Contains(i)) continue;
            double dot = VectorOps.Dot(query, UnitRow(i));
            scored.Add((Words[i], qn == 0 ? 0 : dot / qn));
        }
        return scored.OrderByDescending(s => s.Item2).ThenBy(s => s.Item1, StringComparer.Ordinal).Take(Math.Max(0, k)).ToList();
    }

    /// <summary>The format a path implies: ".bin" is <see cref="WordVectorFormat.Binary"/>, anything else <see cref="WordVectorFormat.Text"/>.</summary>
    public static WordVectorFormat FormatOf(string path) =>
        string.Equals(Path.GetExtension(path), ".bin", StringComparison.OrdinalIgnoreCase) ? WordVectorFormat.Binary : WordVectorFormat.Text;

    /// <summary>Writes the vectors to <paramref name="path"/> atomically (readers see the old file or the whole new one).</summary>
    public void Save(string path, WordVectorFormat format) => AtomicFile.Write(path, stream => Write(stream, format));

    /// <summary>Writes the vectors in <paramref name="format"/> to <paramref name="stream"/>.</summary>
    public void Write(Stream stream, WordVectorFormat format)
    {
        var output = new BufferedStream(stream, 1 << 16); // not disposed: that would close the caller's stream
        output.Write(Encoding.ASCII.GetBytes($"{Count} {Dimension}\n"));
        Span<byte> value = stackalloc byte[4];
        var line = new StringBuilder();
        for (int i = 0; i < Count; i++)
        {
            if (format == WordVectorFormat.Binary)
            {
                output.Write(Encoding.UTF8.GetBytes(Words[i] + " "));
                foreach (float v in this[i])
                {
                    BinaryPrimitives.WriteSingleLittleEndian(value, v);
                    output.Write(value);
                }
                output.WriteByte((byte)'\n');
            }
            else
            {
                line.Clear().Append(Words[i]).Append(' ');
                foreach (float v in this[i]) line.Append(v.ToString("R", CultureInfo.InvariantCulture)).Append(' ');
                line.Append('\n');
                output.Write(Encoding.UTF8.GetBytes(line.ToString()));
            }
        }
        output.Flush();
    }

    /// <summary>Reads a word2vec file in the format its extension implies (see <see cref="FormatOf"/>).</summary>
    /// <exception cref="InvalidInputException">The file is missing or malformed (the message names the file and the word or line).</exception>
    public static WordVectors Load(string path) => Load(path, FormatOf(path));

    /// <summary>Reads a word2vec file in <paramref name="format"/>.</summary>
    /// <exception cref="InvalidInputException">The file is missing or malformed (the message names the file and the word or line).</exception>
    public static WordVectors Load(string path, WordVectorFormat format)
    {
        if (!File.Exists(path)) throw new InvalidInputException($"{path}: no such word-vector file");
        using var stream = new BufferedStream(File.OpenRead(path), 1 << 16);
        return Read(stream, format, path);
    }

    /// <summary>Reads vectors in <paramref name="format"/> from <paramref name="stream"/>; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidInputException">The content is malformed.</exception>
    public static WordVectors Read(Stream stream, WordVectorFormat format, string source)
    {
        string header = ReadLine(stream) ?? throw new InvalidInputException($"{source}: empty file (expected a header line \"count dimension\")");
        string[] parts = header.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int count)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int dim) || dim < 1)
            throw new InvalidInputException($"{source}: header \"{header}\" is not \"count dimension\" (two positive integers)");
        var words = new string[count];
        var vectors = new float[(long)count * dim];
        Span<byte> value = stackalloc byte[4];
        for (int i = 0; i < count; i++)
        {
            if (format == WordVectorFormat.Binary)
            {
                words[i] = ReadBinaryWord(stream, source, i);
                for (int d = 0; d < dim; d++)
                {
                    if (stream.ReadAtLeast(value, 4, throwOnEndOfStream: false) < 4)
                        throw new InvalidInputException($"{source}: ends inside the vector of \"{words[i]}\" (word {i + 1} of {count}, {dim} float32 values expected)");
                    vectors[(long)i * dim + d] = BinaryPrimitives.ReadSingleLittleEndian(value);
                }
            }
            else
            {
                string line = ReadLine(stream) ?? throw new InvalidInputException($"{source}: has {i} words, the header promises {count}");
                string[] fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length != dim + 1)
                    throw new InvalidInputException($"{source}: line {i + 2} has {fields.Length - 1} values (expected a word and {dim} values)");
                words[i] = fields[0];
                for (int d = 0; d < dim; d++)
                    if (!float.TryParse(fields[d + 1], NumberStyles.Float, CultureInfo.InvariantCulture, out vectors[(long)i * dim + d]))
                        throw new InvalidInputException($"{source}: line {i + 2}: \"{fields[d + 1]}\" is not a number");
            }
        }
        try { return new WordVectors(words, vectors, dim); }
        catch (ArgumentException e) { throw new InvalidInputException($"{source}: {e.Message}"); }
    }

    /// <summary>Bytes up to "\n" as UTF-8 without the "\r\n" / "\n"; null at the end of the stream.</summary>
    static string? ReadLine(Stream stream)
    {
        var bytes = new List<byte>();
        int b;
        while ((b = stream.ReadByte()) >= 0 && b != '\n') bytes.Add((byte)b);
        if (b < 0 && bytes.Count == 0) return null;
        if (bytes.Count > 0 && bytes[^1] == '\r') bytes.RemoveAt(bytes.Count - 1);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>A binary record's word: newlines before it skipped (word2vec.c's reader does the same), up to the space.</summary>
    static string ReadBinaryWord(Stream stream, string source, int i)
    {
        var bytes = new List<byte>();
        int b;
        while ((b = stream.ReadByte()) >= 0 && b != ' ')
            if (b != '\n' || bytes.Count > 0) bytes.Add((byte)b);
        if (b < 0) throw new InvalidInputException($"{source}: ends before word {i + 1} (expected \"word \" then the vector)");
        if (bytes.Count == 0) throw new InvalidInputException($"{source}: word {i + 1} is empty");
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
