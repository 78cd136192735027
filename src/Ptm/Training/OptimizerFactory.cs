using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>The optimizer the trainer uses, and the learning-rate setting its schedule applies each step.</summary>
internal static class OptimizerFactory
{
    /// <summary>
    /// AdamW with two parameter groups: weight decay on matrices (linear weights, embeddings), none on
    /// biases and LayerNorm gains, which are vectors (as in nanoGPT and Google's BERT recipe). The update runs in
    /// libtorch's fused kernel (<see cref="FusedAdamW"/>) unless <paramref name="fused"/> is false (TorchSharp's own step).
    /// </summary>
    public static AdamW AdamW(nn.Module model, double learningRate, double weightDecay, double beta1, double beta2, double eps = 1e-8, bool fused = true)
    {
        var parameters = model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        var decay = parameters.Where(p => p.parameter.dim() >= 2).Select(p => p.parameter).ToList();
        var noDecay = parameters.Where(p => p.parameter.dim() < 2).Select(p => p.parameter).ToList();
        var groups = new List<AdamW.ParamGroup>
        {
            new(decay, learningRate, beta1, beta2, eps, weightDecay, false, false),
            new(noDecay, learningRate, beta1, beta2, eps, 0.0, false, false),
        };
        return fused
            ? new FusedAdamW(groups, learningRate, beta1, beta2, eps, weightDecay)
            : optim.AdamW(groups, learningRate, beta1, beta2, eps, weightDecay);
    }

    /// <summary>Sets every parameter group's learning rate to <paramref name="lr"/>.</summary>
    public static void SetLearningRate(OptimizerHelper optimizer, double lr)
    {
        foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
    }
}
