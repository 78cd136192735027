namespace Ptm.HuggingFace;

/// <summary>What one Hugging Face tensor becomes in our state_dict.</summary>
public abstract record HfKeyTarget
{
    private HfKeyTarget() { }

    /// <summary>Copied into <paramref name="Key"/>; <paramref name="Transpose"/> for GPT-2's Conv1D (in, out) weights.</summary>
    public sealed record Parameter(string Key, bool Transpose) : HfKeyTarget;

    /// <summary>A copy of a parameter we already load (a tied head); accepted only if it equals <paramref name="TiedTo"/>.</summary>
    public sealed record Tied(string TiedTo) : HfKeyTarget;

    /// <summary>A buffer HF saves that our models recompute (causal masks, position ids).</summary>
    public sealed record Ignored : HfKeyTarget;

    /// <summary>A tensor our model has no place for (a task head such as <c>classifier.*</c>).</summary>
    public sealed record Unexpected : HfKeyTarget;
}

/// <summary>
/// Hugging Face key names to ours. Our parameter names are HF's (see <see cref="Modeling.Gpt"/>,
/// <see cref="Modeling.BertForPreTraining"/>), so the mapping is about prefixes, legacy names, tied copies,
/// buffers, and GPT-2's transposed Conv1D weights.
/// </summary>
public static class HfKeyMap
{
    /// <summary>GPT-2's Conv1D modules store weight as (in, out); torch.nn.Linear (ours) as (out, in).</summary>
    static readonly string[] Conv1DSuffixes = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];

    /// <summary>Whether a GPT-2 key names a Conv1D weight, stored transposed relative to ours.</summary>
    public static bool IsConv1DWeight(string key) => Conv1DSuffixes.Any(key.EndsWith);

    /// <summary>GPT-2's token embedding, which the LM head shares.</summary>
    public const string GptWte = "transformer.wte.weight";
    /// <summary>BERT's word embedding, which the MLM decoder shares.</summary>
    public const string BertWordEmbeddings = "bert.embeddings.word_embeddings.weight";
    /// <summary>The MLM head's output bias (older checkpoints also store it as <c>cls.predictions.decoder.bias</c>).</summary>
    public const string BertMlmBias = "cls.predictions.bias";

    /// <summary>GPT2LMHeadModel keys (<c>transformer.h.0...</c>, <c>lm_head.weight</c>) or GPT2Model keys (<c>h.0...</c>).</summary>
    public static HfKeyTarget Gpt(string hfKey, Func<string, bool> isOurs)
    {
        if (hfKey == "lm_head.weight") return new HfKeyTarget.Tied(GptWte);
        string body = hfKey.StartsWith("transformer.", StringComparison.Ordinal) ? hfKey["transformer.".Length..] : hfKey;
        // Causal-mask buffers that older transformers versions saved with the weights.
        if (body.EndsWith(".attn.bias", StringComparison.Ordinal) || body.EndsWith(".attn.masked_bias", StringComparison.Ordinal))
            return new HfKeyTarget.Ignored();
        string key = "transformer." + body;
        return isOurs(key) ? new HfKeyTarget.Parameter(key, IsConv1DWeight(key)) : new HfKeyTarget.Unexpected();
    }

    /// <summary>
    /// BertModel keys (no prefix), BertForPreTraining / BertForMaskedLM / BertForSequenceClassification keys
    /// (<c>bert.</c> prefix plus <c>cls.*</c> or <c>classifier.*</c>), and TF-era LayerNorm <c>gamma</c>/<c>beta</c>.
    /// </summary>
    public static HfKeyTarget Bert(string hfKey, Func<string, bool> isOurs, IReadOnlySet<string> hfKeys)
    {
        string key = hfKey.EndsWith("LayerNorm.gamma", StringComparison.Ordinal) ? hfKey[..^"gamma".Length] + "weight"
            : hfKey.EndsWith("LayerNorm.beta", StringComparison.Ordinal) ? hfKey[..^"beta".Length] + "bias"
            : hfKey;
        if (!key.StartsWith("bert.", StringComparison.Ordinal) && !key.StartsWith("cls.", StringComparison.Ordinal)
            && !key.StartsWith("classifier.", StringComparison.Ordinal))
            key = "bert." + key;
        if (key is "bert.embeddings.position_ids" or "bert.embeddings.token_type_ids") return new HfKeyTarget.Ignored();
        if (key == "cls.predictions.decoder.weight") return new HfKeyTarget.Tied(BertWordEmbeddings);
        // HF ties the decoder's bias to cls.predictions.bias; some versions save both, some only one.
        if (key == "cls.predictions.decoder.bias")
            return hfKeys.Contains(BertMlmBias) ? new HfKeyTarget.Tied(BertMlmBias) : new HfKeyTarget.Parameter(BertMlmBias, false);
        return isOurs(key) ? new HfKeyTarget.Parameter(key, false) : new HfKeyTarget.Unexpected();
    }

    /// <summary>BART's token embedding, shared by encoder, decoder and LM head.</summary>
    public const string BartShared = "model.shared.weight";
    /// <summary>BART's LM-head bias, a buffer (BartModel checkpoints, without the LM head, lack it).</summary>
    public const string BartFinalLogitsBias = "final_logits_bias";

    /// <summary>Hugging Face names of copies of the shared embedding, in the order one is picked to load it from.</summary>
    static readonly string[] BartSharedCopies =
    [
        "model.shared.weight", "shared.weight", "model.encoder.embed_tokens.weight", "encoder.embed_tokens.weight",
        "model.decoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight",
    ];

    /// <summary>
    /// BartForConditionalGeneration / MBartForConditionalGeneration keys (<c>model.</c> prefix, <c>lm_head.weight</c>,
    /// <c>final_logits_bias</c>) or BartModel keys (no prefix). The shared embedding and its copies
    /// (<c>embed_tokens</c> of either stack, <c>lm_head</c>): the first present loads <c>model.shared.weight</c>, the
    /// others must equal it. fairseq's <c>version</c> buffers are ignored.
    /// </summary>
    public static HfKeyTarget Bart(string hfKey, Func<string, bool> isOurs, IReadOnlySet<string> hfKeys)
    {
        if (hfKey.EndsWith(".version", StringComparison.Ordinal)) return new HfKeyTarget.Ignored();
        if (BartSharedCopies.Contains(hfKey))
            return BartSharedCopies.First(hfKeys.Contains) == hfKey ? new HfKeyTarget.Parameter(BartShared, false) : new HfKeyTarget.Tied(BartShared);
        string key = hfKey.StartsWith("model.", StringComparison.Ordinal) || hfKey == BartFinalLogitsBias ? hfKey : "model." + hfKey;
        return isOurs(key) ? new HfKeyTarget.Parameter(key, false) : new HfKeyTarget.Unexpected();
    }
}
