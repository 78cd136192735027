using Ptm.Kernels;
using TorchSharp;
using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>One batch of windows as the biLM reads it.</summary>
/// <param name="Chars">character ids (U, L) of the batch's distinct word types</param>
/// <param name="TypeIndex">(B, T): each position's row of <paramref name="Chars"/></param>
/// <param name="ForwardTargets">(B, T): the softmax id of the next token, -100 where there is none (the last position,
/// or a next token <c>&lt;S&gt;</c>, which always follows <c>&lt;/S&gt;</c>)</param>
/// <param name="BackwardTargets">(B, T): the softmax id of the previous token, -100 where there is none (the first
/// position, or a previous token <c>&lt;/S&gt;</c>)</param>
public sealed record ElmoBatch(Tensor Chars, Tensor TypeIndex, Tensor ForwardTargets, Tensor BackwardTargets) : IDisposable
{
    /// <summary>
    /// A batch from rows of equal length holding word-type ids; <paramref name="typeChars"/> gives a type's character
    /// ids and <paramref name="softmaxId"/> its softmax id. The char-CNN then runs once per distinct type, not per token.
    /// </summary>
    public static ElmoBatch From(IReadOnlyList<int[]> rows, Func<int, int[]> typeChars, Func<int, int> softmaxId, int beginSentenceType, int endSentenceType)
    {
        int B = rows.Count, T = rows[0].Length;
        var distinct = new Dictionary<int, int>();
        var order = new List<int>();
        var index = new long[B * T];
        var fwd = new long[B * T];
        var bwd = new long[B * T];
        for (int b = 0; b < B; b++)
        {
            if (rows[b].Length != T) throw new ArgumentException("rows of different lengths", nameof(rows));
            for (int t = 0; t < T; t++)
            {
                int type = rows[b][t];
                if (!distinct.TryGetValue(type, out int u)) { u = order.Count; distinct[type] = u; order.Add(type); }
                index[b * T + t] = u;
                fwd[b * T + t] = t + 1 < T && rows[b][t + 1] != beginSentenceType ? softmaxId(rows[b][t + 1]) : -100;
                bwd[b * T + t] = t > 0 && rows[b][t - 1] != endSentenceType ? softmaxId(rows[b][t - 1]) : -100;
            }
        }
        int L = typeChars(order[0]).Length;
        var chars = new long[order.Count * L];
        for (int u = 0; u < order.Count; u++)
        {
            var c = typeChars(order[u]);
            for (int i = 0; i < L; i++) chars[u * L + i] = c[i];
        }
        return new ElmoBatch(tensor(chars, order.Count, L), tensor(index, B, T), tensor(fwd, B, T), tensor(bwd, B, T));
    }

    /// <summary>Positions the forward LM is scored on.</summary>
    public long ForwardCount => ForwardTargets.ne(-100).sum().item<long>();

    /// <summary>Positions the backward LM is scored on.</summary>
    public long BackwardCount => BackwardTargets.ne(-100).sum().item<long>();

    /// <summary>Summed cross-entropy of each direction over the batch (not divided by anything).</summary>
    public (Tensor Forward, Tensor Backward) SummedLosses(ElmoBiLm model)
    {
        using var scope = NewDisposeScope();
        long B = TypeIndex.size(0), T = TypeIndex.size(1);
        var types = model.TokenRepresentation(Chars);                                    // (U, P)
        var tokens = types.index_select(0, TypeIndex.view(-1)).view(B, T, -1);           // (B, T, P)
        var states = model.Directions(tokens, null);
        var (forward, backward) = model.Logits(states);                                  // (B, T, V) each
        long V = forward.size(-1);
        var f = Ops.CrossEntropy(forward.view(-1, V), ForwardTargets.view(-1), normalizer: 1.0);
        var b = Ops.CrossEntropy(backward.view(-1, V), BackwardTargets.view(-1), normalizer: 1.0);
        return (f.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope());
    }

    /// <summary>Frees the batch's tensors.</summary>
    public void Dispose()
    {
        Chars.Dispose();
        TypeIndex.Dispose();
        ForwardTargets.Dispose();
        BackwardTargets.Dispose();
    }
}

/// <summary>
/// ELMo pre-training (Peters et al. 2018, §3.1): the joint log-likelihood of the forward and the backward language
/// model, Σ_k log p(t_k | t_1..t_k−1) + log p(t_k | t_k+1..t_N), as a mean over every prediction of both directions
/// in the step. Evaluation reports each direction's loss and perplexity.
/// </summary>
public sealed class ElmoObjective : IDataParallelObjective
{
    readonly ElmoBiLm model;
    readonly ElmoData data;
    readonly TrainingConfig training;
    readonly int[][] typeChars;

    /// <summary>An objective over <paramref name="data"/>'s windows (<see cref="TrainingConfig.BatchSize"/> of
    /// <see cref="TrainingConfig.BlockSize"/> tokens, placed by <see cref="TrainingConfig.Seed"/>).</summary>
    public ElmoObjective(ElmoBiLm model, ElmoData data, TrainingConfig training)
    {
        this.model = model;
        this.data = data;
        this.training = training;
        int L = model.Config.MaxCharactersPerToken;
        typeChars = data.Types.Select(w => { var c = new int[L]; ElmoVocabulary.CharIds(w, c); return c; }).ToArray();
    }

    /// <inheritdoc />
    public nn.Module Model => model;

    ElmoBatch Batch(IReadOnlyList<int[]> rows) => ElmoBatch.From(rows, t => typeChars[t], data.SoftmaxId, 0, 1);

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count) => ForwardBackward(firstIndex, count, _ => { });

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count, Action<long[]> sumCounts)
    {
        var batches = Enumerable.Range(0, count)
            .Select(m => Batch(data.TrainBatch(firstIndex + m, training.BatchSize, training.BlockSize, training.Seed))).ToList();
        try
        {
            long fCount = batches.Sum(b => b.ForwardCount), bCount = batches.Sum(b => b.BackwardCount);
            long[] totals = [fCount + bCount];
            sumCounts(totals);
            double fSum = 0, bSum = 0;
            foreach (var batch in batches)
            {
                using var scope = NewDisposeScope();
                var (f, b) = batch.SummedLosses(model);
                ((f + b) / totals[0]).backward();
                fSum += f.ToDouble();
                bSum += b.ToDouble();
            }
            // Tokens are the windows' tokens (each read by both directions), so tokens/s compares with GPT's.
            long windowTokens = batches.Sum(b => b.TypeIndex.numel());
            return new StepOutcome((fSum + bSum) / totals[0], windowTokens, new Dictionary<string, double>
            {
                ["forward_loss"] = fSum / Math.Max(1, fCount),
                ["backward_loss"] = bSum / Math.Max(1, bCount),
            });
        }
        finally
        {
            foreach (var b in batches) b.Dispose();
        }
    }

    /// <summary>Over the first <paramref name="maxBatches"/> × BatchSize consecutive validation windows: "loss" (the
    /// mean over both directions' predictions), "forward_loss", "backward_loss", and the perplexities "forward_ppl",
    /// "backward_ppl" and "ppl".</summary>
    /// <exception cref="InvalidInputException">the validation stream has no window to score</exception>
    public IReadOnlyDictionary<string, double> Evaluate(int maxBatches)
    {
        double fSum = 0, bSum = 0;
        long fCount = 0, bCount = 0;
        var windows = data.ValidationWindows(training.BlockSize, maxBatches * training.BatchSize).ToList();
        foreach (var group in windows.GroupBy(w => w.Length))
            foreach (var rows in group.Chunk(training.BatchSize))
            {
                using var scope = NewDisposeScope();
                using var batch = Batch(rows);
                var (f, b) = batch.SummedLosses(model);
                fSum += f.ToDouble();
                bSum += b.ToDouble();
                fCount += batch.ForwardCount;
                bCount += batch.BackwardCount;
            }
        if (fCount == 0 || bCount == 0) throw new InvalidInputException("the validation split yields no predictions to evaluate");
        double fl = fSum / fCount, bl = bSum / bCount, loss = (fSum + bSum) / (fCount + bCount);
        return new Dictionary<string, double>
        {
            ["loss"] = loss, ["ppl"] = Math.Exp(loss),
            ["forward_loss"] = fl, ["forward_ppl"] = Math.Exp(fl),
            ["backward_loss"] = bl, ["backward_ppl"] = Math.Exp(bl),
        };
    }

    /// <summary>Writes an ELMo model folder (<see cref="ElmoFolder"/>).</summary>
    public void SaveModel(string directory) => ElmoFolder.Save(directory, model, data.Vocabulary);
}
