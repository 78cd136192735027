namespace Ptm.Prompting;

/// <summary>How raw candidate scores are corrected for the model's prior preference for some answers.</summary>
public enum Calibration
{
    /// <summary>The raw scores: log P(candidate | prompt).</summary>
    None,
    /// <summary>
    /// Contextual calibration (Zhao et al. 2021): the candidates' probabilities (softmax over the candidates) are divided
    /// by their mean probabilities for content-free inputs ("N/A", "[MASK]", "" in every field, same demonstrations),
    /// i.e. W = diag(p_cf)⁻¹, b = 0.
    /// </summary>
    Contextual,
    /// <summary>
    /// Domain-conditional PMI (Holtzman et al. 2021): log P(candidate | prompt) − log P(candidate | domain premise), the
    /// premise being the template's text right before the answer slot (<see cref="PromptTemplate.DomainPremise"/>)
    /// after &lt;|endoftext|&gt;, without demonstrations.
    /// </summary>
    Pmi,
}

/// <summary>The arithmetic of <see cref="Calibration"/>, on one example's candidate scores (natural-log units).</summary>
public static class PromptCalibration
{
    /// <summary>Reads none, contextual or pmi.</summary>
    /// <exception cref="InvalidInputException">Any other name.</exception>
    public static Calibration Parse(string name, string source) => name switch
    {
        "none" => Calibration.None,
        "contextual" => Calibration.Contextual,
        "pmi" => Calibration.Pmi,
        _ => throw new InvalidInputException($"{source}: calibration must be none, contextual or pmi (got \"{name}\")"),
    };

    /// <summary>The lower-case name <see cref="Parse"/> reads.</summary>
    public static string Name(Calibration c) => c.ToString().ToLowerInvariant();

    /// <summary>Softmax of <paramref name="scores"/> (log-probabilities, or any log-scale scores) over the candidates.</summary>
    public static double[] Softmax(IReadOnlyList<double> scores)
    {
        double max = scores.Max();
        var e = scores.Select(s => Math.Exp(s - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

    /// <summary>p_cf: the mean over content-free inputs of each one's softmax over the candidates.</summary>
    public static double[] ContentFreeProbabilities(IReadOnlyList<double[]> contentFreeScores)
    {
        if (contentFreeScores.Count == 0) throw new InvalidInputException("contextual calibration: no content-free inputs");
        var mean = new double[contentFreeScores[0].Length];
        foreach (var s in contentFreeScores)
        {
            var p = Softmax(s);
            for (int i = 0; i < mean.Length; i++) mean[i] += p[i] / contentFreeScores.Count;
        }
        return mean;
    }

    /// <summary>Contextually calibrated scores: log softmax(<paramref name="scores"/>) − log p_cf. Their softmax is
    /// Zhao et al.'s q = normalize(diag(p_cf)⁻¹ p).</summary>
    public static double[] Contextual(IReadOnlyList<double> scores, IReadOnlyList<double> contentFree)
    {
        var p = Softmax(scores);
        return p.Select((x, i) => Math.Log(x) - Math.Log(contentFree[i])).ToArray();
    }

    /// <summary>PMI scores: <paramref name="scores"/> − <paramref name="premiseScores"/>, candidate by candidate.</summary>
    public static double[] Pmi(IReadOnlyList<double> scores, IReadOnlyList<double> premiseScores) =>
        scores.Select((s, i) => s - premiseScores[i]).ToArray();
}
