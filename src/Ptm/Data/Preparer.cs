using System.Buffers.Binary;
using System.Text;
using Ptm.IO;
using Ptm.Tokenization;

namespace Ptm.Data;

/// <summary>Where a preparer writes its folder and whether it may write into one that already has files.</summary>
/// <param name="OutputDirectory">Folder to write; created if missing.</param>
/// <param name="Force">Write into a folder that already has files (ours are replaced, others left alone).</param>
public sealed record PrepareOptions(string OutputDirectory, bool Force = false);

/// <summary>What <see cref="Preparer"/> wrote: the folder and its manifest.</summary>
public sealed record PrepareResult(string OutputDirectory, DataManifest Manifest)
{
    /// <summary>A line for the folder and one per split (documents, bytes, tokens), as <c>ptm prepare</c> prints them.</summary>
    public IEnumerable<string> Summary(TimeSpan elapsed)
    {
        var m = Manifest;
        yield return $"prepared {OutputDirectory} in {elapsed.TotalSeconds:F1} s: {m.Tokenizer.Kind} tokenizer, {m.Tokenizer.VocabSize} tokens, {m.Dtype} shards";
        foreach (var (name, split) in m.Splits)
            yield return $"  {name,-10} {split.Documents,6} documents {split.SourceBytes,10} bytes {split.Tokens,10} tokens ({(double)split.SourceBytes / Math.Max(1, split.Tokens):F2} bytes/token)";
    }
}

/// <summary>
/// Tokenizes a corpus into <c>train.bin</c> and <c>validation.bin</c> plus <c>manifest.json</c> and the tokenizer's
/// files (the library side of <c>ptm prepare</c>).
/// </summary>
/// <remarks>
/// Documents are joined with the tokenizer's end-of-text id between them (not before the first or after the last),
/// so the model learns where one document ends. A tokenizer without one (the char tokenizer) gets the documents
/// simply concatenated; each document already ends with a newline, so books still start on a new line.
/// </remarks>
public static class Preparer
{
    /// <summary>Name of the training split: the manifest key and the file stem (<c>train.bin</c>).</summary>
    public const string TrainSplit = "train";
    /// <summary>Name of the validation split: the manifest key and the file stem (<c>validation.bin</c>).</summary>
    public const string ValidationSplit = "validation";

    /// <summary>Loads the corpus and prepares it; use the other overload when the tokenizer is trained on the corpus first.</summary>
    public static PrepareResult Prepare(ITokenizer tokenizer, CorpusOptions corpus, PrepareOptions options)
    {
        CheckOutputDirectory(options); // before the slow part
        return Prepare(tokenizer, Corpus.Load(corpus), options);
    }

    /// <summary>Encodes <paramref name="corpus"/>'s splits with <paramref name="tokenizer"/> and writes the folder, manifest last.</summary>
    /// <exception cref="InvalidInputException">The output path is a file or a non-empty folder without <c>Force</c>, or a document cannot be encoded.</exception>
    public static PrepareResult Prepare(ITokenizer tokenizer, Corpus corpus, PrepareOptions options)
    {
        string dir = options.OutputDirectory;
        CheckOutputDirectory(options);
        Directory.CreateDirectory(dir);
        // A manifest marks a complete folder, so remove the old one before replacing anything it describes.
        File.Delete(Path.Combine(dir, DataManifest.FileName));

        string dtype = DataManifest.DtypeFor(tokenizer.VocabSize);
        var splits = new Dictionary<string, SplitInfo>
        {
            [TrainSplit] = WriteSplit(tokenizer, corpus.Train, dir, TrainSplit, dtype),
            [ValidationSplit] = WriteSplit(tokenizer, corpus.Validation, dir, ValidationSplit, dtype),
        };
        IReadOnlyList<string> tokenizerFiles = SaveTokenizer(tokenizer, dir);

        CorpusOptions o = corpus.Options;
        bool heldOut = o.ValidationSpec is null;
        var manifest = new DataManifest(
            DataManifest.CurrentFormatVersion,
            dtype,
            new TokenizerInfo(tokenizer.Kind, tokenizer.VocabSize, tokenizer.EndOfTextId, tokenizerFiles),
            new SourceInfo(o.TrainSpec, o.ValidationSpec, heldOut ? o.ValidationFraction : null, heldOut ? o.Seed : null),
            splits);
        manifest.Save(dir);
        return new PrepareResult(dir, manifest);
    }

    internal static void CheckOutputDirectory(PrepareOptions options)
    {
        string dir = options.OutputDirectory;
        if (File.Exists(dir)) throw new InvalidInputException($"{dir}: exists and is not a directory");
        if (!options.Force && Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            throw new InvalidInputException($"{dir}: output directory is not empty; refusing to overwrite it without force");
    }

    static SplitInfo WriteSplit(ITokenizer tokenizer, IReadOnlyList<TextDocument> documents, string dir, string split, string dtype)
    {
        // ITokenizer implementations are thread-safe; whole documents are the unit so the output order is fixed.
        var encoded = new int[documents.Count][];
        var errors = new Exception?[documents.Count];
        Parallel.For(0, documents.Count, i =>
        {
            try { encoded[i] = Encode(tokenizer, documents[i]); }
            catch (Exception e) { errors[i] = e; }
        });
        // Report the first failing document in corpus order, whichever thread hit it first.
        if (errors.FirstOrDefault(e => e is not null) is Exception error)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);

        int? eot = tokenizer.EndOfTextId;
        long tokens = 0, sourceBytes = 0;
        for (int i = 0; i < documents.Count; i++)
        {
            tokens += encoded[i].Length + (eot is not null && i > 0 ? 1 : 0);
            sourceBytes += Encoding.UTF8.GetByteCount(documents[i].Text);
        }

        string file = split + ".bin";
        AtomicFile.Write(Path.Combine(dir, file), stream =>
        {
            var writer = new TokenWriter(stream, dtype == DataManifest.UInt16 ? 2 : 4);
            for (int i = 0; i < documents.Count; i++)
            {
                if (eot is int separator && i > 0) writer.Write(separator);
                foreach (int id in encoded[i]) writer.Write(id);
            }
            writer.Flush();
        });
        return new SplitInfo(file, tokens, sourceBytes, documents.Count);

        int[] Encode(ITokenizer t, TextDocument d)
        {
            int[] ids;
            try { ids = t.Encode(d.Text); }
            catch (Exception e) when (e is ArgumentException or InvalidInputException) { throw new InvalidInputException($"{d.Path}: document {d.Index}: {e.Message}", e); }
            foreach (int id in ids)
                if ((uint)id >= (uint)t.VocabSize)
                    throw new InvalidOperationException($"tokenizer '{t.Kind}' produced id {id} outside its vocabulary [0, {t.VocabSize})");
            return ids;
        }
    }

    // Saves into a private folder first so every file lands in the output folder by an atomic rename.
    static IReadOnlyList<string> SaveTokenizer(ITokenizer tokenizer, string dir)
    {
        string staging = Path.Combine(dir, $".tokenizer.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        try
        {
            tokenizer.Save(staging);
            var names = new List<string>();
            foreach (string file in Directory.EnumerateFiles(staging).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(file);
                if (name is DataManifest.FileName or "train.bin" or "validation.bin")
                    throw new InvalidOperationException($"tokenizer '{tokenizer.Kind}' saved a file named {name}, which the data folder needs");
                File.Move(file, Path.Combine(dir, name), overwrite: true);
                names.Add(name);
            }
            if (Directory.EnumerateDirectories(staging).Any())
                throw new InvalidOperationException($"tokenizer '{tokenizer.Kind}' saved a sub-folder; only plain files are supported");
            return names;
        }
        finally { Directory.Delete(staging, recursive: true); }
    }

    sealed class TokenWriter(Stream stream, int size)
    {
        readonly byte[] buffer = new byte[1 << 16];
        int used;

        public void Write(int id)
        {
            if (used + size > buffer.Length) Flush();
            if (size == 2) BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(used), checked((ushort)id));
            else BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(used), id);
            used += size;
        }

        public void Flush()
        {
            stream.Write(buffer, 0, used);
            used = 0;
        }
    }
}
