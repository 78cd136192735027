using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.IO;

namespace Ptm.Tokenization;

// The file formats BERT tokenizers travel in: Google's / Hugging Face's vocab.txt (one token per line, id = line
// number - 1) with Hugging Face's tokenizer_config.json for the casing options, and Hugging Face's tokenizer.json
// (the "tokenizers" library's single-file format) when its model is WordPiece.
public sealed partial class WordPieceTokenizer
{
    /// <summary>The vocabulary file: one token per line, id = line number - 1 (Google's and Hugging Face's vocab.txt).</summary>
    public const string VocabFileName = "vocab.txt";
    /// <summary>Hugging Face's tokenizer_config.json, which holds the casing options.</summary>
    public const string ConfigFileName = "tokenizer_config.json";
    /// <summary>Hugging Face's fast-tokenizer file (read when its model is WordPiece).</summary>
    public const string HuggingFaceFileName = "tokenizer.json";

    /// <summary>Writes vocab.txt and tokenizer_config.json (Hugging Face BertTokenizer field names), and
    /// tokenizer.json (its fast tokenizer's file) with the same settings.</summary>
    public void Save(string directory)
    {
        var vocab = new StringBuilder(tokens.Length * 8);
        foreach (string t in tokens) vocab.Append(t).Append('\n');
        AtomicFile.WriteAllText(Path.Combine(directory, VocabFileName), vocab.ToString());

        var config = new JsonObject
        {
            ["tokenizer_class"] = "BertTokenizer",
            ["do_lower_case"] = Settings.DoLowerCase,
            ["strip_accents"] = Settings.StripAccents,
            ["tokenize_chinese_chars"] = Settings.TokenizeChineseChars,
            ["model_max_length"] = Settings.ModelMaxLength,
            ["unk_token"] = Settings.UnknownToken,
            ["sep_token"] = SepToken,
            ["pad_token"] = PadToken,
            ["cls_token"] = ClsToken,
            ["mask_token"] = MaskToken,
        };
        // Not BertTokenizer arguments (it always cleans, uses "##" and 100); written only when they differ so the
        // file stays what Hugging Face writes, yet a tokenizer loaded from tokenizer.json survives a round trip.
        var defaults = new WordPieceSettings();
        if (Settings.CleanText != defaults.CleanText) config["clean_text"] = Settings.CleanText;
        if (Settings.ContinuationPrefix != defaults.ContinuationPrefix) config["continuing_subword_prefix"] = Settings.ContinuationPrefix;
        if (Settings.MaxInputCharsPerWord != defaults.MaxInputCharsPerWord) config["max_input_chars_per_word"] = Settings.MaxInputCharsPerWord;
        AtomicFile.WriteAllText(Path.Combine(directory, ConfigFileName),
            config.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
        SaveHuggingFaceJson(Path.Combine(directory, HuggingFaceFileName));
    }

    /// <summary>Loads vocab.txt and, if present, tokenizer_config.json from <paramref name="directory"/>; without the
    /// config the tokenizer lower-cases, as Hugging Face's BertTokenizer does by default.</summary>
    /// <exception cref="InvalidInputException">A file is missing or malformed; the message names it.</exception>
    public static WordPieceTokenizer Load(string directory)
    {
        string vocabPath = Path.Combine(directory, VocabFileName), configPath = Path.Combine(directory, ConfigFileName);
        string[] vocabulary = ReadVocabFile(vocabPath);
        var settings = File.Exists(configPath) ? ReadConfig(configPath) : new WordPieceSettings();
        return Create(vocabulary, settings, vocabPath);
    }

    /// <summary>Reads a vocab.txt: one token per line, the id is the 0-based line number.</summary>
    /// <exception cref="InvalidInputException">Empty file, empty line, or a token that repeats (naming both lines).</exception>
    public static string[] ReadVocabFile(string path)
    {
        string text = ReadFile(path);
        var lines = text.Split('\n').Select(l => l.EndsWith('\r') ? l[..^1] : l).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);   // the final newline
        if (lines.Count == 0) throw new InvalidInputException($"{path}: the vocabulary file is empty; expected one token per line");
        TokenizerFiles.CheckVocabularySize(path, lines.Count);
        var seen = new Dictionary<string, int>(lines.Count, StringComparer.Ordinal);
        for (int i = 0; i < lines.Count; i++)
        {
            if (lines[i].Length == 0) throw new InvalidInputException($"{path}, line {i + 1}: empty line; expected one token per line");
            if (!seen.TryAdd(lines[i], i + 1))
                throw new InvalidInputException($"{path}, line {i + 1}: token '{lines[i]}' repeats line {seen[lines[i]]}");
        }
        return lines.ToArray();
    }

    static WordPieceSettings ReadConfig(string path)
    {
        JsonNode? root;
        string text = ReadFile(path);
        JsonFiles.CheckSurrogateEscapes(text.AsSpan(), path);
        try { root = JsonNode.Parse(text, documentOptions: JsonFiles.Strict); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: not valid JSON ({e.Message})", e); }
        if (root is not JsonObject config) throw new InvalidInputException($"{path}: expected a JSON object");
        var defaults = new WordPieceSettings();
        return new WordPieceSettings
        {
            DoLowerCase = GetBool(config, "do_lower_case", path) ?? defaults.DoLowerCase,
            StripAccents = GetBool(config, "strip_accents", path),
            TokenizeChineseChars = GetBool(config, "tokenize_chinese_chars", path) ?? defaults.TokenizeChineseChars,
            CleanText = GetBool(config, "clean_text", path) ?? defaults.CleanText,
            UnknownToken = GetString(config, "unk_token", path) ?? defaults.UnknownToken,
            ContinuationPrefix = GetString(config, "continuing_subword_prefix", path) ?? defaults.ContinuationPrefix,
            MaxInputCharsPerWord = GetInt(config, "max_input_chars_per_word", path) ?? defaults.MaxInputCharsPerWord,
            // Hugging Face writes a huge sentinel (1e30) when a model has no limit; keep ours then.
            ModelMaxLength = GetLong(config, "model_max_length", path) is long n and > 0 and <= int.MaxValue ? (int)n : defaults.ModelMaxLength,
        };
    }

    /// <summary>Loads a Hugging Face tokenizer.json whose model is WordPiece (with a BertNormalizer or none).</summary>
    /// <exception cref="InvalidInputException">Not WordPiece, an unsupported normalizer or pre-tokenizer, or malformed.</exception>
    public static WordPieceTokenizer LoadHuggingFaceJson(string path)
    {
        JsonNode? root;
        string text = ReadFile(path);
        JsonFiles.CheckSurrogateEscapes(text.AsSpan(), path);
        try { root = JsonNode.Parse(text, documentOptions: JsonFiles.Strict); }
        catch (JsonException e) { throw new InvalidInputException($"{path}: not valid JSON ({e.Message})", e); }
        if (root is not JsonObject document || document["model"] is not JsonObject model)
            throw new InvalidInputException($"{path}: expected a tokenizer.json object with a \"model\" object");
        string? type = GetString(model, "type", path);
        if (type != "WordPiece") throw new InvalidInputException($"{path}: model.type is '{type}', expected 'WordPiece'");

        var settings = new WordPieceSettings
        {
            UnknownToken = GetString(model, "unk_token", path) ?? UnkToken,
            ContinuationPrefix = GetString(model, "continuing_subword_prefix", path) ?? "##",
            MaxInputCharsPerWord = GetInt(model, "max_input_chars_per_word", path) ?? 100,
            ModelMaxLength = document["truncation"] is JsonObject truncation && GetInt(truncation, "max_length", path) is int max ? max : 512,
        };
        switch (document["normalizer"])
        {
            case null:
                // No normaliser: the text reaches the pre-tokenizer as is.
                settings = settings with { DoLowerCase = false, StripAccents = false, TokenizeChineseChars = false, CleanText = false };
                break;
            case JsonObject normalizer when GetString(normalizer, "type", path) == "BertNormalizer":
                bool lower = GetBool(normalizer, "lowercase", path) ?? true;
                settings = settings with
                {
                    DoLowerCase = lower,
                    StripAccents = GetBool(normalizer, "strip_accents", path),
                    TokenizeChineseChars = GetBool(normalizer, "handle_chinese_chars", path) ?? true,
                    CleanText = GetBool(normalizer, "clean_text", path) ?? true,
                };
                break;
            default:
                throw new InvalidInputException($"{path}: normalizer {document["normalizer"]!.ToJsonString()} is not supported; expected BertNormalizer or null");
        }
        if (document["pre_tokenizer"] is JsonObject pre && GetString(pre, "type", path) != "BertPreTokenizer")
            throw new InvalidInputException($"{path}: pre_tokenizer type '{GetString(pre, "type", path)}' is not supported; expected BertPreTokenizer");

        if (model["vocab"] is not JsonObject vocabObject)
            throw new InvalidInputException($"{path}: model.vocab must be an object mapping each token to its id");
        TokenizerFiles.CheckVocabularySize(path, vocabObject.Count);
        var vocabulary = new string?[vocabObject.Count];
        foreach (var (token, value) in vocabObject)
        {
            int id = value is JsonValue v && v.TryGetValue(out int n) ? n : -1;
            if ((uint)id >= (uint)vocabulary.Length)
                throw new InvalidInputException($"{path}: model.vocab gives '{token}' the id {value?.ToJsonString()}; expected ids 0..{vocabulary.Length - 1}");
            if (vocabulary[id] is { } other)
                throw new InvalidInputException($"{path}: model.vocab gives '{other}' and '{token}' the same id {id}");
            vocabulary[id] = token;
        }
        if (vocabulary.Length == 0) throw new InvalidInputException($"{path}: model.vocab is empty");
        return Create(vocabulary!, settings, path);
    }

    /// <summary>Checks the special tokens here so the error names the file.</summary>
    static WordPieceTokenizer Create(string[] vocabulary, WordPieceSettings settings, string path)
    {
        var present = new HashSet<string>(vocabulary, StringComparer.Ordinal);
        string[] missing = RequiredSpecialTokens.Append(settings.UnknownToken).Distinct().Where(s => !present.Contains(s)).ToArray();
        if (missing.Length > 0)
            throw new InvalidInputException($"{path}: the vocabulary lacks the special token(s) {string.Join(" ", missing)}; BERT needs {string.Join(" ", RequiredSpecialTokens)}");
        try { return new WordPieceTokenizer(vocabulary, settings); }
        catch (ArgumentException e) { throw new InvalidInputException($"{path}: {e.Message}", e); }
    }

    static string ReadFile(string path) => TokenizerFiles.ReadText(path);

    static JsonValue? GetValue(JsonObject o, string name, string path, string expected) => o[name] switch
    {
        null => null,
        JsonValue v => v,
        var other => throw new InvalidInputException($"{path}: \"{name}\" is {other.ToJsonString()}; expected {expected}"),
    };

    static bool? GetBool(JsonObject o, string name, string path) =>
        GetValue(o, name, path, "true, false or null") is not { } v ? null
        : v.TryGetValue(out bool b) ? b
        : throw new InvalidInputException($"{path}: \"{name}\" is {v.ToJsonString()}; expected true, false or null");

    static string? GetString(JsonObject o, string name, string path) =>
        GetValue(o, name, path, "a string") is not { } v ? null
        : v.TryGetValue(out string? s) ? s
        : throw new InvalidInputException($"{path}: \"{name}\" is {v.ToJsonString()}; expected a string");

    static long? GetLong(JsonObject o, string name, string path)
    {
        if (GetValue(o, name, path, "a number") is not { } v) return null;
        if (v.TryGetValue(out long l)) return l;
        if (v.TryGetValue(out double d)) return d >= long.MaxValue ? long.MaxValue : (long)d;
        throw new InvalidInputException($"{path}: \"{name}\" is {v.ToJsonString()}; expected a number");
    }

    static int? GetInt(JsonObject o, string name, string path) => GetLong(o, name, path) switch
    {
        null => null,
        long n and >= int.MinValue and <= int.MaxValue => (int)n,
        long n => throw new InvalidInputException($"{path}: \"{name}\" is {n}; expected a 32-bit integer"),
    };
}
