using System.Text.Encodings.Web;
using System.Text.Json;
using Ptm.IO;

namespace Ptm.Tokenization;

// Hugging Face's single-file tokenizer.json ("tokenizers" library) for a GPT-2 style tokenizer: a BPE model behind
// a ByteLevel pre-tokenizer and decoder. We only accept the configuration our encoder reproduces exactly; every
// other option is refused by name rather than silently giving different ids.
public sealed partial class ByteLevelBpeTokenizer
{
    /// <summary>Hugging Face's fast-tokenizer file, which holds vocabulary, merges and special tokens together.</summary>
    public const string HuggingFaceFileName = "tokenizer.json";

    /// <summary>
    /// Writes a tokenizer.json equivalent to this tokenizer, as the tokenizers library writes GPT-2's: our special
    /// tokens become added_tokens with special=true, merges are "left right" strings in rank order.
    /// </summary>
    public void SaveHuggingFaceJson(string path)
    {
        var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (int s = 0; s < specialTokens.Length; s++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", specialIds[s]);
                w.WriteString("content", specialTokens[s]);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            WriteByteLevel(w, "pre_tokenizer");
            WriteByteLevel(w, "post_processor");
            WriteByteLevel(w, "decoder");
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (int id = 0; id < tokens.Length; id++) w.WriteNumber(tokens[id], id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var (left, right) in merges) w.WriteStringValue(left + " " + right);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        AtomicFile.WriteAllBytes(path, json.ToArray());
    }

    // The one setting of the ByteLevel component our encoder matches: GPT-2's regex, no space added in front.
    static void WriteByteLevel(Utf8JsonWriter w, string name)
    {
        w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }

    /// <summary>
    /// Loads a tokenizer.json whose model is BPE with a ByteLevel pre-tokenizer. Merges may be "a b" strings or
    /// ["a", "b"] pairs (newer files); added_tokens become the tokens matched literally before pre-tokenization.
    /// </summary>
    /// <exception cref="InvalidInputException">Malformed, or an option we cannot reproduce; names the file and field.</exception>
    public static ByteLevelBpeTokenizer LoadHuggingFaceJson(string path)
    {
        var r = new HfJsonReader(path);
        using var document = r.Parse();
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw r.Fail("the document", "must be a JSON object");
        var model = r.Object(root, "model", "model");
        string? type = r.String(model, "type", "model.type");
        if (type != "BPE") throw r.Fail("model.type", $"is '{type}'; expected 'BPE'");
        HfBpeOptions.Check(r, root, model);

        var vocabulary = ReadHfVocab(r, model);
        var merges = ReadHfMerges(r, model);
        var specials = ReadAddedTokens(r, root, vocabulary);
        try
        {
            return new ByteLevelBpeTokenizer(vocabulary, merges, specials);
        }
        catch (InvalidDataException e) when (e.Data[MergeRankKey] is int rank)
        {
            throw r.Fail($"model.merges[{rank}]", $"is unusable: {e.Message}");
        }
        catch (InvalidDataException e)
        {
            throw r.Fail("model.vocab", $"is unusable: {e.Message}");
        }
    }

    static List<string> ReadHfVocab(HfJsonReader r, JsonElement model)
    {
        var vocab = r.Object(model, "vocab", "model.vocab");
        var entries = vocab.EnumerateObject().ToList();
        var tokens = new string?[entries.Count];
        foreach (var entry in entries)
        {
            int id = r.Int(entry.Value, $"model.vocab[\"{entry.Name}\"]");
            if ((uint)id >= (uint)tokens.Length)
                throw r.Fail("model.vocab", $"gives '{entry.Name}' the id {id}; expected ids 0..{tokens.Length - 1}");
            if (tokens[id] is { } other) throw r.Fail("model.vocab", $"gives '{other}' and '{entry.Name}' the same id {id}");
            tokens[id] = entry.Name;
        }
        if (tokens.Length == 0) throw r.Fail("model.vocab", "is empty");
        return tokens.ToList()!;
    }

    /// <summary>Merges in rank order; both spellings the tokenizers library has written are accepted.</summary>
    static (string, string)[] ReadHfMerges(HfJsonReader r, JsonElement model)
    {
        if (HfJsonReader.Find(model, "merges") is not { ValueKind: JsonValueKind.Array } array)
            throw r.Fail("model.merges", "must be an array of \"left right\" strings or [left, right] pairs");
        var merges = new (string, string)[array.GetArrayLength()];
        int rank = 0;
        foreach (var item in array.EnumerateArray())
        {
            string field = $"model.merges[{rank}]";
            merges[rank++] = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString()!.Split(' ') is [{ Length: > 0 } left, { Length: > 0 } right]
                    ? (left, right) : throw r.Fail(field, $"is {item.GetRawText()}; expected two tokens separated by one space"),
                JsonValueKind.Array when item.GetArrayLength() == 2
                    && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String
                    && item[0].GetString() is { Length: > 0 } left && item[1].GetString() is { Length: > 0 } right => (left, right),
                _ => throw r.Fail(field, $"is {item.GetRawText()}; expected \"left right\" or [\"left\", \"right\"]"),
            };
        }
        return merges;
    }

    /// <summary>
    /// The contents of added_tokens, which the tokenizers library matches literally in the raw text whether marked
    /// special or not, as our special tokens are. One missing from model.vocab is appended at the id it names, which
    /// must then be the next free id.
    /// </summary>
    static string[] ReadAddedTokens(HfJsonReader r, JsonElement root, List<string> vocabulary)
    {
        if (HfJsonReader.Find(root, "added_tokens") is not { } added) return [];
        if (added.ValueKind != JsonValueKind.Array) throw r.Fail("added_tokens", "must be an array");
        var index = new Dictionary<string, int>(vocabulary.Count, StringComparer.Ordinal);
        for (int id = 0; id < vocabulary.Count; id++) index[vocabulary[id]] = id;

        var list = new List<(int Id, string Content, string Field)>();
        int i = 0;
        foreach (var token in added.EnumerateArray())
        {
            string field = $"added_tokens[{i++}]";
            if (token.ValueKind != JsonValueKind.Object) throw r.Fail(field, "must be an object");
            int id = r.Int(HfJsonReader.Find(token, "id") ?? throw r.Fail($"{field}.id", "is missing"), $"{field}.id");
            string content = r.String(token, "content", $"{field}.content") is { Length: > 0 } c ? c : throw r.Fail($"{field}.content", "is missing or empty");
            // These change where the token matches; our literal match has none of them.
            foreach (string option in new[] { "single_word", "lstrip", "rstrip" })
                if (r.Bool(token, option, $"{field}.{option}") == true) throw r.Fail($"{field}.{option}", "is true; only false is supported");
            list.Add((id, content, field));
        }
        foreach (var (id, content, field) in list.OrderBy(t => t.Id))
        {
            if (index.TryGetValue(content, out int known))
            {
                if (known != id) throw r.Fail($"{field}.id", $"is {id} but model.vocab gives '{content}' the id {known}");
            }
            else if (id == vocabulary.Count)
            {
                vocabulary.Add(content);
                index[content] = id;
            }
            else throw r.Fail($"{field}.id", $"is {id}; '{content}' is not in model.vocab, so expected the next free id {vocabulary.Count}");
        }
        return list.Select(t => t.Content).ToArray();
    }
}
