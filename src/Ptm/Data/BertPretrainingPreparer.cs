using Ptm.IO;

namespace Ptm.Data;

/// <summary>What <see cref="BertPretrainingPreparer"/> wrote: the folder and its manifest.</summary>
public sealed record BertPrepareResult(string OutputDirectory, BertDataManifest Manifest)
{
    /// <summary>A line for the folder and one per split (documents, instances), as <c>ptm prepare</c> prints them.</summary>
    public IEnumerable<string> Summary(TimeSpan elapsed)
    {
        var m = Manifest;
        yield return $"prepared {OutputDirectory} in {elapsed.TotalSeconds:F1} s: {m.Objective}, {m.Vocabulary.VocabSize} WordPiece tokens, sequences of {m.Options.MaxSeqLength}";
        foreach (var (name, split) in m.Splits)
            yield return $"  {name,-10} {split.Documents,6} documents {split.Instances,9} instances";
    }
}

/// <summary>
/// The library side of <c>ptm prepare --objective mlm-nsp</c> (or mlm-sop, mlm): documents → sentences → ids →
/// instances (<see cref="BertPretrainingInstances"/>) → static masks (<see cref="MlmMasker"/>, unless dynamic) →
/// <c>train.bert.bin</c> and <c>validation.bert.bin</c> (<see cref="BertInstanceRecord"/>), the tokenizer's files,
/// and <c>manifest.json</c> last. Every file is written atomically, like <see cref="Preparer"/>.
/// </summary>
public static class BertPretrainingPreparer
{
    /// <summary>Writes a BERT pre-training folder to <paramref name="output"/>'s directory from <paramref name="corpus"/>'s
    /// train and validation documents, encoded with <paramref name="vocab"/>; the same options and seed write identical files.</summary>
    /// <exception cref="InvalidInputException">An option is out of range, the output path is a file or a non-empty folder without <c>Force</c>, or a document cannot be encoded.</exception>
    public static BertPrepareResult Prepare(IMaskingVocabulary vocab, Corpus corpus, BertDataOptions options, PrepareOptions output)
    {
        options.Validate();
        string dir = output.OutputDirectory;
        Preparer.CheckOutputDirectory(output);
        string dtype = DataManifest.DtypeFor(vocab.VocabSize);
        int maskSlots = options.Masking == MaskingMode.Static ? options.Mlm.MaxPredictionsPerSeq : 0;
        var record = new BertInstanceRecord(options.MaxSeqLength, maskSlots, DataManifest.DtypeSize(dtype)!.Value);
        // Phrase and entity units come from the training text and are stored with the data (dynamic masking reads them).
        MaskingLexicon? lexicon = options.Mlm.Unit switch
        {
            MaskingUnit.Phrase => MaskingLexicon.Phrases(corpus.Train.SelectMany(d => d.Text.Split('\n'))),
            MaskingUnit.Entity => MaskingLexicon.Entities(corpus.Train.SelectMany(d => d.Text.Split('\n'))),
            _ => null,
        };
        IMlmMasker masker = lexicon is null ? new MlmMasker(vocab, options.Mlm) : new KnowledgeMasker(vocab, options.Mlm, options.Mlm.Unit, lexicon);

        // Build both splits before writing anything, so a bad corpus leaves the folder untouched.
        var built = new[] { (Name: Preparer.TrainSplit, Docs: corpus.Train, Salt: 0UL), (Name: Preparer.ValidationSplit, Docs: corpus.Validation, Salt: 1UL) }
            .Select(s => (s.Name, Split: Build(vocab, s.Docs, s.Name, options, masker, s.Salt)))
            .ToList();

        Directory.CreateDirectory(dir);
        File.Delete(Path.Combine(dir, DataManifest.FileName)); // a manifest marks a complete folder
        var splits = new Dictionary<string, BertSplitInfo>();
        foreach (var (name, split) in built)
        {
            string file = name + ".bert.bin";
            AtomicFile.Write(Path.Combine(dir, file), stream =>
            {
                var buffer = new byte[record.Size];
                foreach (BertInstance instance in split.Instances)
                {
                    record.Write(instance, vocab.PadId, buffer);
                    stream.Write(buffer);
                }
            });
            splits[name] = split.Info with { File = file };
        }
        var files = SaveVocabulary(vocab, dir);
        lexicon?.Save(Path.Combine(dir, KnowledgeMasker.UnitsFile));
        CorpusOptions o = corpus.Options;
        bool heldOut = o.ValidationSpec is null;
        var manifest = new BertDataManifest(BertDataManifest.CurrentFormatVersion, BertDataManifest.ObjectiveFor(options.Task), dtype,
            record.Size, maskSlots,
            new BertVocabularyInfo(vocab.Kind, vocab.VocabSize, vocab.PadId, vocab.ClsId, vocab.SepId, vocab.MaskId, files),
            new SourceInfo(o.TrainSpec, o.ValidationSpec, heldOut ? o.ValidationFraction : null, heldOut ? o.Seed : null),
            options, splits);
        manifest.Save(dir);
        return new BertPrepareResult(dir, manifest);
    }

    /// <summary>Sentences of each document, encoded; empty sentences dropped. Public so callers can inspect or reuse them.</summary>
    public static int[][][] EncodeDocuments(IMaskingVocabulary vocab, IReadOnlyList<TextDocument> documents, SentenceSplitting splitting)
    {
        var encoded = new int[documents.Count][][];
        var errors = new Exception?[documents.Count];
        Parallel.For(0, documents.Count, d =>
        {
            try
            {
                TextDocument doc = documents[d];
                encoded[d] = SentenceSplitter.Split(doc.Text, splitting).Select(s => Encode(vocab, doc, s)).Where(ids => ids.Length > 0).ToArray();
            }
            catch (Exception e) { errors[d] = e; }
        });
        if (errors.FirstOrDefault(e => e is not null) is Exception error)
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        return encoded;
    }

    static int[] Encode(IMaskingVocabulary vocab, TextDocument doc, string sentence)
    {
        int[] ids;
        try { ids = vocab.Encode(sentence); }
        catch (Exception e) when (e is ArgumentException or InvalidInputException) { throw new InvalidInputException($"{doc.Path}: document {doc.Index}: {e.Message}", e); }
        foreach (int id in ids)
            if ((uint)id >= (uint)vocab.VocabSize)
                throw new InvalidOperationException($"vocabulary '{vocab.Kind}' produced id {id} outside [0, {vocab.VocabSize})");
        return ids;
    }

    sealed record BuiltSplit(List<BertInstance> Instances, BertSplitInfo Info);

    static BuiltSplit Build(IMaskingVocabulary vocab, IReadOnlyList<TextDocument> documents, string name, BertDataOptions options, IMlmMasker masker, ulong salt)
    {
        // A pair task draws sentence B from another document: a split of one document (one file) is cut into its paragraphs.
        if (documents.Count == 1 && options.Task != PairTask.None) documents = DocumentSplitter.Split(documents[0]);
        int[][][] docs = EncodeDocuments(vocab, documents, options.Sentences);
        var rng = new SplitMix64(SplitMix64.Mix(options.Seed ^ SplitMix64.Mix(salt)));
        List<BertInstance> instances;
        try { instances = BertPretrainingInstances.Create(docs, vocab, options, ref rng); }
        catch (InvalidInputException e) { throw new InvalidInputException($"{name} split: {e.Message}", e); }

        if (options.Masking == MaskingMode.Static)
        {
            // One generator per instance: masks do not depend on how instances were built, and masking can run in parallel.
            ulong maskSeed = SplitMix64.Mix(options.Seed ^ SplitMix64.Mix(salt + 0x100));
            Parallel.For(0, instances.Count, i =>
            {
                var maskRng = SplitMix64.ForStep(maskSeed, i);
                instances[i] = instances[i] with { Mask = masker.Mask(instances[i].Tokens, ref maskRng) };
            });
        }
        var nonEmpty = docs.Where(d => d.Length > 0).ToList();
        var info = new BertSplitInfo("", instances.Count, nonEmpty.Count, nonEmpty.Count(d => d.Length == 1), nonEmpty.Sum(d => (long)d.Length),
            instances.Sum(x => (long)x.Length), instances.Count(x => x.PairLabel == 0), instances.Count(x => x.PairLabel == 1),
            instances.Sum(x => (long)x.Mask.Positions.Length));
        return new BuiltSplit(instances, info);
    }

    // Staged in a private folder, then each file renamed into place, as Preparer does for tokenizers.
    static IReadOnlyList<string> SaveVocabulary(IMaskingVocabulary vocab, string dir)
    {
        string staging = Path.Combine(dir, $".vocabulary.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(staging);
        try
        {
            vocab.Save(staging);
            var names = new List<string>();
            foreach (string file in Directory.EnumerateFiles(staging).Order(StringComparer.Ordinal))
            {
                string name = Path.GetFileName(file);
                if (name == DataManifest.FileName || name.EndsWith(".bert.bin", StringComparison.Ordinal))
                    throw new InvalidOperationException($"vocabulary '{vocab.Kind}' saved a file named {name}, which the data folder needs");
                File.Move(file, Path.Combine(dir, name), overwrite: true);
                names.Add(name);
            }
            return names;
        }
        finally { Directory.Delete(staging, recursive: true); }
    }
}
