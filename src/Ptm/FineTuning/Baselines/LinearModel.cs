namespace Ptm.FineTuning.Baselines;

/// <summary>What a linear problem's scores are trained to do.</summary>
public enum LinearLoss
{
    /// <summary>Multinomial logistic regression: one score per class, softmax cross-entropy, bias per class.</summary>
    Softmax,
    /// <summary>One score per row, rows in consecutive groups of <see cref="LinearProblem.GroupSize"/> (the choices of one
    /// example); softmax over each group, cross-entropy on the right row. No bias: a constant cancels in the softmax.</summary>
    Choice,
    /// <summary>Binary logistic regression: one score per row, target 0 or 1, bias.</summary>
    Logistic,
    /// <summary>Linear regression: one score per row, squared error, bias.</summary>
    Squared,
}

/// <summary>
/// A linear model's training problem. The objective is the mean loss over examples (rows, or groups for
/// <see cref="LinearLoss.Choice"/>) plus <c>λ/2 · ||W||²</c>; the bias is not penalised. Targets are class ids
/// (Softmax), the right row's index within its group (Choice), 0/1 (Logistic) or real values (Squared).
/// </summary>
internal sealed record LinearProblem
{
    public LinearProblem(SparseRows features, LinearLoss loss, int outputs, IReadOnlyList<double> targets, int groupSize = 1)
    {
        int expected = loss == LinearLoss.Choice ? (groupSize < 1 ? -1 : features.RowCount / groupSize) : features.RowCount;
        if (loss == LinearLoss.Softmax ? outputs < 2 : outputs != 1)
            throw new ArgumentException($"{loss} needs {(loss == LinearLoss.Softmax ? "at least 2 outputs" : "1 output")} (got {outputs})", nameof(outputs));
        if (loss == LinearLoss.Choice && (groupSize < 2 || features.RowCount % groupSize != 0))
            throw new ArgumentException($"choice rows ({features.RowCount}) must come in groups of at least 2 (got {groupSize})", nameof(groupSize));
        if (targets.Count != expected || expected == 0)
            throw new ArgumentException($"{targets.Count} targets for {expected} examples", nameof(targets));
        Features = features;
        Loss = loss;
        Outputs = outputs;
        Targets = targets;
        GroupSize = groupSize;
    }

    public SparseRows Features { get; }
    public LinearLoss Loss { get; }
    public int Outputs { get; }
    public IReadOnlyList<double> Targets { get; }
    public int GroupSize { get; }
    public bool HasBias => Loss != LinearLoss.Choice;
    public int WeightCount => Features.ColumnCount * Outputs;
    /// <summary>The flat parameter vector: W (inputs × outputs, row-major), then the bias if there is one.</summary>
    public int ParameterCount => WeightCount + (HasBias ? Outputs : 0);
}

/// <summary>Trained weights: <c>scores = x · W + b</c>.</summary>
public sealed class LinearModel
{
    readonly double[] weights;   // (Inputs, Outputs), row-major
    readonly double[] bias;      // (Outputs)

    /// <summary>A model from its weights (<paramref name="inputs"/> × <paramref name="outputs"/>, row-major) and bias
    /// (<paramref name="outputs"/>); the arrays are kept, not copied.</summary>
    /// <exception cref="ArgumentException">The array lengths do not match the shape.</exception>
    public LinearModel(int inputs, int outputs, double[] weights, double[] bias)
    {
        if (weights.Length != inputs * outputs || bias.Length != outputs) throw new ArgumentException("weight shapes do not match");
        Inputs = inputs;
        Outputs = outputs;
        this.weights = weights;
        this.bias = bias;
    }

    /// <summary>The number of features, the rows of W.</summary>
    public int Inputs { get; }
    /// <summary>The number of scores per row, the columns of W.</summary>
    public int Outputs { get; }
    /// <summary>W[<paramref name="input"/>, <paramref name="output"/>].</summary>
    public double Weight(int input, int output) => weights[input * Outputs + output];
    /// <summary>b[<paramref name="output"/>]; 0 for a problem without bias.</summary>
    public double Bias(int output) => bias[output];

    /// <summary>The model a problem's flat parameter vector describes.</summary>
    internal static LinearModel FromParameters(LinearProblem problem, ReadOnlySpan<double> theta)
    {
        if (theta.Length != problem.ParameterCount) throw new ArgumentException($"{theta.Length} parameters for a problem of {problem.ParameterCount}");
        var b = new double[problem.Outputs];
        if (problem.HasBias) theta[problem.WeightCount..].CopyTo(b);
        return new LinearModel(problem.Features.ColumnCount, problem.Outputs, theta[..problem.WeightCount].ToArray(), b);
    }

    /// <summary>The scores of every row: (rows, outputs), row-major.</summary>
    internal double[] Scores(SparseRows x)
    {
        if (x.ColumnCount != Inputs) throw new ArgumentException($"features have {x.ColumnCount} columns, the model {Inputs}");
        var scores = new double[x.RowCount * Outputs];
        for (int r = 0; r < x.RowCount; r++)
        {
            var row = scores.AsSpan(r * Outputs, Outputs);
            bias.CopyTo(row);
            for (int k = x.RowStarts[r]; k < x.RowStarts[r + 1]; k++)
            {
                double v = x.Values[k];
                var w = weights.AsSpan(x.Columns[k] * Outputs, Outputs);
                for (int o = 0; o < Outputs; o++) row[o] += v * w[o];
            }
        }
        return scores;
    }

    /// <summary>The index of the largest score; the first on a tie.</summary>
    public static int ArgMax(ReadOnlySpan<double> scores)
    {
        int best = 0;
        for (int i = 1; i < scores.Length; i++)
            if (scores[i] > scores[best]) best = i;
        return best;
    }
}
