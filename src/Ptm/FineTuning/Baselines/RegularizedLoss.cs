using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.FineTuning.Baselines;

/// <summary>
/// The L2-regularised objective of a <see cref="LinearProblem"/> as a TorchSharp computation on a flat float64
/// parameter vector, with its gradient from autograd. The design matrix enters as (row, column, value) triples:
/// the scores are a scatter-add of the weight rows its non-zeros pick, so no dense (rows, features) matrix is built.
/// </summary>
internal sealed class RegularizedLoss : IDisposable
{
    readonly LinearProblem problem;
    readonly Tensor rows, columns, values, targets;

    public RegularizedLoss(LinearProblem problem, double l2)
    {
        if (!(l2 >= 0) || double.IsInfinity(l2)) throw new ArgumentOutOfRangeException(nameof(l2), $"L2 strength must be finite and >= 0 (got {l2})");
        this.problem = problem;
        L2 = l2;
        var x = problem.Features;
        var rowOf = new long[x.NonZeros];
        for (int r = 0; r < x.RowCount; r++)
            for (int k = x.RowStarts[r]; k < x.RowStarts[r + 1]; k++) rowOf[k] = r;
        // Kept for the object's lifetime, outside any caller's dispose scope.
        rows = tensor(rowOf).DetachFromDisposeScope();
        columns = tensor(x.Columns.Select(c => (long)c).ToArray()).DetachFromDisposeScope();
        values = tensor(x.Values.ToArray(), float64).DetachFromDisposeScope();
        targets = (problem.Loss is LinearLoss.Softmax or LinearLoss.Choice
            ? tensor(problem.Targets.Select(t => (long)t).ToArray())
            : tensor(problem.Targets.ToArray(), float64)).DetachFromDisposeScope();
    }

    public double L2 { get; }
    public int Dimension => problem.ParameterCount;

    /// <summary>The objective at <paramref name="theta"/> (float64, (ParameterCount)): mean loss + λ/2 ||W||².</summary>
    public Tensor Loss(Tensor theta)
    {
        int d = problem.Features.ColumnCount, c = problem.Outputs;
        var w = theta.narrow(0, 0, (long)d * c).view(d, c);                                   // (D, C)
        var picked = w.index_select(0, columns) * values.unsqueeze(1);                          // (nnz, C)
        var scores = zeros([problem.Features.RowCount, c], float64).index_add(0, rows, picked, 1.0); // (N, C)
        if (problem.HasBias) scores = scores + theta.narrow(0, (long)d * c, c);
        var data = problem.Loss switch
        {
            LinearLoss.Softmax => nn.functional.cross_entropy(scores, targets),
            LinearLoss.Choice => nn.functional.cross_entropy(scores.view(-1, problem.GroupSize), targets),   // (G, K)
            LinearLoss.Logistic => nn.functional.binary_cross_entropy_with_logits(scores.view(-1), targets),
            LinearLoss.Squared => nn.functional.mse_loss(scores.view(-1), targets),
            _ => throw new ArgumentOutOfRangeException(nameof(problem)),
        };
        return data + 0.5 * L2 * w.square().sum();
    }

    /// <summary>The objective at <paramref name="x"/>, writing its gradient into <paramref name="gradient"/>.</summary>
    public double ValueAndGradient(double[] x, double[] gradient)
    {
        using var scope = NewDisposeScope();
        var theta = tensor(x, float64).requires_grad_();
        var loss = Loss(theta);
        loss.backward();
        theta.grad!.data<double>().CopyTo(gradient, 0);
        return loss.item<double>();
    }

    public void Dispose()
    {
        rows.Dispose();
        columns.Dispose();
        values.Dispose();
        targets.Dispose();
    }
}
