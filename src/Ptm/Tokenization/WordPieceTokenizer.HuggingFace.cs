using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ptm.IO;

namespace Ptm.Tokenization;

// Writing Hugging Face's tokenizer.json for a BERT tokenizer, in the shape the tokenizers library gives
// bert-base-uncased, so LoadHuggingFaceJson (and Hugging Face) read back the same settings and ids.
public sealed partial class WordPieceTokenizer
{
    /// <summary>Writes a tokenizer.json: WordPiece model, BertNormalizer with our casing options, BertPreTokenizer,
    /// the [CLS] A [SEP] (B [SEP]) template and a WordPiece decoder.</summary>
    public void SaveHuggingFaceJson(string path)
    {
        var s = Settings;
        var vocab = new JsonObject();
        for (int id = 0; id < tokens.Length; id++) vocab[tokens[id]] = id;
        var added = new JsonArray();
        foreach (int id in RequiredSpecialTokens.Append(s.UnknownToken).Distinct().Select(t => ids[t]).Order())
            added.Add(new JsonObject
            {
                ["id"] = id, ["content"] = tokens[id], ["single_word"] = false, ["lstrip"] = false,
                ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
            });
        var document = new JsonObject
        {
            ["version"] = "1.0",
            // The loader reads model_max_length from here; BERT's usual 512 is left implicit, as bert-base-uncased does,
            // so that Hugging Face does not truncate by default.
            ["truncation"] = s.ModelMaxLength == new WordPieceSettings().ModelMaxLength ? null : new JsonObject
            {
                ["direction"] = "Right", ["max_length"] = s.ModelMaxLength, ["strategy"] = "LongestFirst", ["stride"] = 0,
            },
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = new JsonObject
            {
                ["type"] = "BertNormalizer",
                ["clean_text"] = s.CleanText,
                ["handle_chinese_chars"] = s.TokenizeChineseChars,
                ["strip_accents"] = s.StripAccents,   // null: follows lowercase, in both libraries
                ["lowercase"] = s.DoLowerCase,
            },
            ["pre_tokenizer"] = new JsonObject { ["type"] = "BertPreTokenizer" },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(Special(ClsToken, 0), Sequence("A", 0), Special(SepToken, 0)),
                ["pair"] = new JsonArray(Special(ClsToken, 0), Sequence("A", 0), Special(SepToken, 0), Sequence("B", 1), Special(SepToken, 1)),
                ["special_tokens"] = new JsonObject
                {
                    [ClsToken] = new JsonObject { ["id"] = ClsToken, ["ids"] = new JsonArray(ClsId), ["tokens"] = new JsonArray(ClsToken) },
                    [SepToken] = new JsonObject { ["id"] = SepToken, ["ids"] = new JsonArray(SepId), ["tokens"] = new JsonArray(SepToken) },
                },
            },
            ["decoder"] = new JsonObject { ["type"] = "WordPiece", ["prefix"] = s.ContinuationPrefix, ["cleanup"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "WordPiece",
                ["unk_token"] = s.UnknownToken,
                ["continuing_subword_prefix"] = s.ContinuationPrefix,
                ["max_input_chars_per_word"] = s.MaxInputCharsPerWord,
                ["vocab"] = vocab,
            },
        };
        AtomicFile.WriteAllText(path,
            document.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }) + "\n");
    }

    static JsonObject Special(string token, int typeId) =>
        new() { ["SpecialToken"] = new JsonObject { ["id"] = token, ["type_id"] = typeId } };

    static JsonObject Sequence(string which, int typeId) =>
        new() { ["Sequence"] = new JsonObject { ["id"] = which, ["type_id"] = typeId } };
}
