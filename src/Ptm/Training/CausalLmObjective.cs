using Ptm.Modeling;
using Ptm.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>GPT pre-training: next-token cross-entropy over every target position.</summary>
public sealed class CausalLmObjective(Gpt model, ITokenizer tokenizer, ITrainingData data) : IDataParallelObjective
{
    /// <inheritdoc />
    public nn.Module Model => model;

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count) => ForwardBackward(firstIndex, count, _ => { });

    /// <inheritdoc />
    public StepOutcome ForwardBackward(long firstIndex, int count, Action<long[]> sumCounts)
    {
        var micro = new List<(Tensor X, Tensor Y)>(count);
        for (int m = 0; m < count; m++) micro.Add(data.TrainBatch(firstIndex + m));
        // The step's mean is over all its target tokens (on every rank), so each micro-batch's sum is divided by their total.
        long tokens = micro.Sum(b => b.Y.ne(-100).sum().item<long>());
        long[] total = [tokens];
        sumCounts(total);
        double loss = 0;
        foreach (var (x, y) in micro)
        {
            using var scope = NewDisposeScope();
            var l = Gpt.Loss(model.forward(x), y, normalizer: total[0]);
            l.backward();
            loss += l.ToDouble();
        }
        return new StepOutcome(loss, tokens, new Dictionary<string, double>());
    }

    /// <summary>Loss per target token over the fixed validation windows, with perplexity and bits per byte.</summary>
    public IReadOnlyDictionary<string, double> Evaluate(int maxBatches)
    {
        double sum = 0;
        long count = 0;
        foreach (var (x, y) in data.ValidationBatches(maxBatches))
        {
            using var scope = NewDisposeScope();
            sum += Gpt.Loss(model.forward(x), y, normalizer: 1.0).ToDouble();
            count += y.ne(-100).sum().item<long>();
        }
        if (count == 0) throw new InvalidInputException("validation split yields no windows");
        double loss = sum / count;
        return new Dictionary<string, double>
        {
            ["loss"] = loss,
            ["ppl"] = Math.Exp(loss),
            ["bpb"] = loss * data.ValidationTokensPerByte / Math.Log(2),
        };
    }

    /// <inheritdoc />
    public void SaveModel(string directory) => ModelFolder.SaveModel(directory, model, tokenizer);
}
