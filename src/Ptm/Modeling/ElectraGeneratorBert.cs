using static TorchSharp.torch;

namespace Ptm.Modeling;

/// <summary>
/// ELECTRA's generator as a standalone masked-LM BERT. The generator reads the discriminator's embeddings (word,
/// position, token type, LayerNorm; width E), projects them to its hidden size h, runs its layers, and predicts through
/// dense h→E, GELU, LayerNorm and a decoder tied to the word embeddings plus a bias. That is a BERT with factorised
/// embeddings (<c>embedding_size</c> E, <c>hidden_size</c> h) and its MLM head, so every generator tensor has one
/// place in <see cref="BertForPreTraining"/>:
/// <list type="bullet">
/// <item><c>electra.embeddings.*</c> → <c>bert.embeddings.*</c></item>
/// <item><c>generator.encoder.*</c> (the projection <c>embedding_hidden_mapping_in</c> and the layers) → <c>bert.encoder.*</c></item>
/// <item><c>generator.generator_predictions.{dense,LayerNorm}</c> → <c>cls.predictions.transform.{dense,LayerNorm}</c></item>
/// <item><c>generator.generator_lm_head.bias</c> → <c>cls.predictions.bias</c></item>
/// </list>
/// The pooler (<c>bert.pooler.*</c>) and the pair head (<c>cls.seq_relationship.*</c>) have no generator counterpart
/// and keep BERT's initialisation, drawn from a fixed seed so that the same generator always gives the same folder;
/// like the pooler of a BERT pre-trained without a pair task, they are untrained. The result fills masks and scores
/// masked words like any BERT (<see cref="BertForPreTraining.forward"/> gives the generator's MLM logits).
/// </summary>
public static class ElectraGeneratorBert
{
    /// <summary>The seed of the untrained pooler and pair head.</summary>
    public const long UntrainedHeadsSeed = 20200323;

    /// <summary>The BERT config of a generator: <see cref="ElectraForPreTraining.GeneratorConfig"/> (hidden size h,
    /// <c>embedding_size</c> E, the discriminator's vocabulary, positions, activation and LayerNorm ε) named as a
    /// BertForPreTraining.</summary>
    public static BertConfig ConfigFor(BertConfig generatorConfig) => generatorConfig with { Architectures = ["BertForPreTraining"] };

    /// <summary>The ELECTRA tensor name that fills BERT tensor <paramref name="bertName"/>; null for the pooler and
    /// the pair head, which the generator does not have.</summary>
    public static string? ElectraName(string bertName) =>
        bertName.StartsWith("bert.embeddings.", StringComparison.Ordinal) ? "electra.embeddings." + bertName["bert.embeddings.".Length..]
        : bertName.StartsWith("bert.encoder.", StringComparison.Ordinal) ? "generator.encoder." + bertName["bert.encoder.".Length..]
        : bertName.StartsWith("cls.predictions.transform.", StringComparison.Ordinal) ? "generator.generator_predictions." + bertName["cls.predictions.transform.".Length..]
        : bertName == "cls.predictions.bias" ? "generator.generator_lm_head.bias"
        : null;

    /// <summary>A new BERT holding the generator of <paramref name="model"/> (copies, in eval mode; the caller owns it).</summary>
    public static BertForPreTraining From(ElectraForPreTraining model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var source = model.state_dict();
        return Build(model.GeneratorConfig, name => source.TryGetValue(name, out var t) ? (t.shape, _ => t.detach()) : null, "ELECTRA model");
    }

    /// <summary>
    /// A new BERT for generator config <paramref name="generatorConfig"/> whose tensors come from <paramref name="source"/>:
    /// given an ELECTRA tensor name, its shape and a loader (taking the wanted dtype; the caller disposes what it returns), or null when absent. Every mapped
    /// tensor is checked for presence and shape before any is copied; <paramref name="sourceName"/> names the source in errors.
    /// </summary>
    /// <exception cref="InvalidInputException">a generator tensor is missing or has the wrong shape</exception>
    public static BertForPreTraining Build(BertConfig generatorConfig, Func<string, (long[] Shape, Func<ScalarType, Tensor> Load)?> source, string sourceName)
    {
        var bert = NewUntrained(ConfigFor(generatorConfig));
        try
        {
            var target = bert.state_dict();
            var plan = new List<(Tensor Dest, Func<ScalarType, Tensor> Load)>();
            foreach (var (name, dest) in target)
            {
                if (ElectraName(name) is not { } from) continue;
                var found = source(from) ?? throw new InvalidInputException($"{sourceName}: missing generator tensor '{from}'");
                if (!found.Shape.SequenceEqual(dest.shape))
                    throw new InvalidInputException($"{sourceName}: tensor '{from}' has shape [{string.Join(", ", found.Shape)}] but the generator expects [{string.Join(", ", dest.shape)}]");
                plan.Add((dest, found.Load));
            }
            using (no_grad())
                foreach (var (dest, load) in plan)
                {
                    using var src = load(dest.dtype);
                    dest.copy_(src);
                }
            bert.eval();
            return bert;
        }
        catch
        {
            bert.Dispose();
            throw;
        }
    }

    // BERT's initialisation draws from the global generator; drawing from a fixed state and restoring the caller's
    // keeps a training run's random sequence untouched when a checkpoint saves its generator.
    static BertForPreTraining NewUntrained(BertConfig config)
    {
        using var saved = get_rng_state();
        using var fixedRng = new Generator((ulong)UntrainedHeadsSeed);
        using var state = fixedRng.get_state();
        set_rng_state(state);
        try { return new BertForPreTraining(config); }
        finally { set_rng_state(saved); }
    }
}
