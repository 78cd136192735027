using System.Text.Json;

namespace Ptm.Tokenization;

/// <summary>
/// Checks that a BPE tokenizer.json asks for exactly what <see cref="ByteLevelBpeTokenizer"/> does: no normalizer,
/// GPT-2's ByteLevel pre-tokenizer without a prefix space, and a plain BPE model. Anything else would encode
/// differently here than in Hugging Face, so it is refused with the field named.
/// </summary>
internal static class HfBpeOptions
{
    public static void Check(HfJsonReader r, JsonElement root, JsonElement model)
    {
        if (HfJsonReader.Find(root, "normalizer") is { } normalizer)
            throw r.Fail("normalizer", $"is {Short(normalizer)}; a byte-level BPE tokenizer here supports only null");

        if (HfJsonReader.Find(root, "pre_tokenizer") is not { } pre)
            throw r.Fail("pre_tokenizer", "is missing; expected {\"type\": \"ByteLevel\"}");
        CheckByteLevel(r, pre, "pre_tokenizer", required: true);
        if (HfJsonReader.Find(root, "decoder") is { } decoder) CheckByteLevel(r, decoder, "decoder", required: false);
        // A ByteLevel post-processor only adjusts offsets; others (e.g. TemplateProcessing) add tokens we would not.
        if (HfJsonReader.Find(root, "post_processor") is { } post && TypeOf(r, post, "post_processor") != "ByteLevel")
            throw r.Fail("post_processor.type", $"is '{TypeOf(r, post, "post_processor")}'; expected 'ByteLevel' or a null post_processor");

        if (HfJsonReader.Find(model, "dropout") is { } dropout)
            throw r.Fail("model.dropout", $"is {dropout.GetRawText()}; only null (no BPE dropout) is supported");
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (r.String(model, affix, $"model.{affix}") is { Length: > 0 } value)
                throw r.Fail($"model.{affix}", $"is '{value}'; byte-level BPE here supports only \"\" or null");
        if (r.Bool(model, "byte_fallback", "model.byte_fallback") == true)
            throw r.Fail("model.byte_fallback", "is true; only false is supported (every byte already has a token)");
        if (r.Bool(model, "ignore_merges", "model.ignore_merges") == true)
            throw r.Fail("model.ignore_merges", "is true; only false is supported");
    }

    static void CheckByteLevel(HfJsonReader r, JsonElement component, string field, bool required)
    {
        string? type = TypeOf(r, component, field);
        if (type != "ByteLevel")
            throw r.Fail($"{field}.type", $"is '{type}'; expected 'ByteLevel'{(required ? "" : $" or a null {field}")}");
        if (!required) return;   // a decoder's options do not change the bytes it produces
        // Hugging Face's defaults when a field is absent are add_prefix_space=true, use_regex=true.
        if (r.Bool(component, "add_prefix_space", $"{field}.add_prefix_space") ?? true)
            throw r.Fail($"{field}.add_prefix_space", "is true (or absent, which means true); only false is supported, as in GPT-2");
        if (r.Bool(component, "use_regex", $"{field}.use_regex") == false)
            throw r.Fail($"{field}.use_regex", "is false; only true (GPT-2's pre-tokenization pattern) is supported");
    }

    static string? TypeOf(HfJsonReader r, JsonElement component, string field) =>
        component.ValueKind == JsonValueKind.Object ? r.String(component, "type", $"{field}.type")
        : throw r.Fail(field, "must be a JSON object or null");

    static string Short(JsonElement e)
    {
        string raw = e.GetRawText();
        return raw.Length <= 80 ? raw : raw[..80] + "...";
    }
}
