using System.Buffers.Binary;
using System.Text;
using Ptm.FineTuning;
using Ptm.Generation;
using Ptm.HuggingFace;
using Ptm.Kernels;
using Ptm.Modeling;
using Ptm.Tokenization;

namespace Ptm.Fuzz;

/// <summary>
/// Inputs whose sizes are hostile: a header that claims 10¹² elements, a shape whose product overflows, a
/// vocabulary of 10⁸ entries, a 2 GB line in a task file, a prompt of 10⁷ characters. Each must be refused with
/// <see cref="InvalidInputException"/> before the loader allocates for the claimed size. Large files are sparse
/// (their bytes cost no disk) and live only in the folder a case is given. `Ptm.Fuzz hostile` measures each case's
/// peak resident memory in a fresh process; HostileSizeTests asserts the refusals and a generous memory cap.
/// </summary>
public static class HostileInputs
{
    /// <summary>A hostile input.</summary>
    /// <param name="Name">Short name used in docs/fuzzing.md and by `Ptm.Fuzz hostile NAME`.</param>
    /// <param name="Claim">What the input claims, in words.</param>
    /// <param name="Expected">A part of the refusal's message; null for an input that must be accepted with bounded
    /// memory (a tokenizer encodes whole corpora, so 10⁷ characters are work, not an attack).</param>
    /// <param name="Prepare">Writes the input into the folder it is given and returns the call that must refuse it.</param>
    public sealed record Case(string Name, string Claim, string? Expected, Func<string, Action> Prepare);

    /// <summary>Bytes of the sparse task and vocabulary files.</summary>
    public const long TwoGiB = 2L << 30, OneGiB = 1L << 30;

    /// <summary>Every case.</summary>
    public static readonly IReadOnlyList<Case> All =
    [
        new("safetensors-1e12-elements", "safetensors header: an F32 tensor of shape [10^6, 10^6] (10^12 elements, 4 TB)", "out of bounds",
            dir => SafeTensorsCase(dir, """{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4000000000000]}}""")),
        new("safetensors-shape-overflow", "safetensors header: shape [2^32, 2^32, 2^32], whose byte count overflows 64 bits", "is too large",
            dir => SafeTensorsCase(dir, """{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}""")),
        new("safetensors-header-1e15", "safetensors length prefix of 10^15 header bytes", "-byte limit",
            dir =>
            {
                string path = Path.Combine(dir, "model.safetensors");
                var bytes = new byte[64];
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1_000_000_000_000_000);
                File.WriteAllBytes(path, bytes);
                return () => SafeTensorsFile.Open(path).Dispose();
            }),
        new("vocab-txt-1e8", "vocab.txt of 1 GiB (room for 10^8 ten-byte tokens; sparse)", "TokenizerFiles.MaxFileBytes",
            dir =>
            {
                Sparse(Path.Combine(dir, "vocab.txt"), "[PAD]\n[UNK]\n", OneGiB);
                return () => TokenizerFiles.Load(dir);
            }),
        new("vocab-json-1e8", "vocab.json of 1 GiB (room for 10^8 entries; sparse) with merges.txt", "TokenizerFiles.MaxFileBytes",
            dir =>
            {
                Sparse(Path.Combine(dir, "vocab.json"), "{\"a\": 0, ", OneGiB);
                File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n");
                return () => TokenizerFiles.Load(dir);
            }),
        new("config-vocab-1e8", "config.json with vocab_size 10^8 (a 10^8 × 768 embedding)", "TokenizerFiles.MaxVocabularySize",
            dir =>
            {
                string path = Path.Combine(dir, "config.json");
                File.WriteAllText(path, """{"model_type": "gpt2", "vocab_size": 100000000, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024}""");
                return () => HfConfig.Load(path);
            }),
        new("task-csv-2gib-line", "task.csv whose second line is 2 GiB long (sparse)", "TaskFile.MaxRecordChars",
            dir => TaskCase(Path.Combine(dir, "task.csv"), "text,label\n")),
        new("task-tsv-2gib-line", "task.tsv whose second line is 2 GiB long (sparse)", "TaskFile.MaxRecordChars",
            dir => TaskCase(Path.Combine(dir, "task.tsv"), "text\tlabel\n")),
        new("task-jsonl-2gib-line", "task.jsonl of one 2 GiB line (sparse)", "TaskFile.MaxRecordChars",
            dir => TaskCase(Path.Combine(dir, "task.jsonl"), "{\"text\": \"")),
        new("prompt-1e7-chars", "a prompt of 10^7 characters to TextGenerator", "TextGenerator.MaxPromptChars",
            dir =>
            {
                var tokenizer = CharTokenizer.Train("ab");
                var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, NPositions = 16, NEmbd = 8, NLayer = 1, NHead = 1 });
                string prompt = new('a', 10_000_000);
                return () =>
                {
                    try { new TextGenerator(model, tokenizer).GenerateText(prompt, new GenerationOptions { MaxNewTokens = 1 }); }
                    finally { model.Dispose(); }
                };
            }),
        new("encode-1e7-chars", "10^7 characters of KJV text to GPT-2's byte-level BPE Encode (accepted)", null,
            dir =>
            {
                string fixtures = Path.Combine(FuzzTargets.RepoRoot(), "tests", "Ptm.Tests", "fixtures", "gpt2");
                var tokenizer = ByteLevelBpeTokenizer.Load(fixtures);
                string kjv = File.ReadAllText(Path.Combine(FuzzTargets.RepoRoot(), "data", "kjv", "train.txt"));
                var text = new StringBuilder(10_000_000);
                while (text.Length < 10_000_000) text.Append(kjv, 0, Math.Min(kjv.Length, 10_000_000 - text.Length));
                string prompt = text.ToString();
                return () => _ = tokenizer.Encode(prompt);
            }),
    ];

    /// <summary>
    /// Prepares <paramref name="c"/> in <paramref name="dir"/>, runs it, and returns the refusal's message and the
    /// growth of peak resident memory over the resident size before the call, in MiB (null where the peak cannot be
    /// reset: not Linux). The input itself (a 10⁷-character prompt is 20 MB) is made before the baseline.
    /// </summary>
    public static (string? Message, double? PeakGrowthMib) Measure(Case c, string dir)
    {
        Action call = c.Prepare(dir);
        GC.Collect();
        bool reset = ResetPeak();
        double baseline = ProcessMemory.RssMib();
        string? message = null;
        try { call(); }
        catch (InvalidInputException e) { message = e.Message; }
        double peak = ProcessMemory.PeakRssMib();
        return (message, reset ? peak - baseline : null);
    }

    static Action SafeTensorsCase(string dir, string header)
    {
        string path = Path.Combine(dir, "model.safetensors");
        byte[] json = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + json.Length + 16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)json.Length);
        json.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        return () => SafeTensorsFile.Open(path).Dispose();
    }

    static Action TaskCase(string path, string head)
    {
        Sparse(path, head, TwoGiB);
        return () => TaskFile.Read(path, FineTuneTask.Classify, new TaskColumns());
    }

    /// <summary>A file that starts with <paramref name="head"/> and is <paramref name="length"/> bytes long, the rest
    /// zero bytes that take no disk space.</summary>
    static void Sparse(string path, string head, long length)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        stream.Write(Encoding.UTF8.GetBytes(head));
        stream.SetLength(length);
    }

    /// <summary>Resets VmHWM to the current resident size (Linux: writing 5 to /proc/self/clear_refs).</summary>
    static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}
