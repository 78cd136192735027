using TorchSharp;

namespace Ptm;

/// <summary>
/// Puts a module in eval mode for a using block and puts back the mode it had: inference calls (generation, scoring,
/// embeddings, fill-mask) must leave a model being trained in training mode.
/// </summary>
readonly struct EvalMode : IDisposable
{
    readonly torch.nn.Module module;
    readonly bool wasTraining;

    EvalMode(torch.nn.Module module)
    {
        this.module = module;
        wasTraining = module.training;
    }

    /// <summary>Switches <paramref name="module"/> to eval mode until the returned value is disposed.</summary>
    public static EvalMode Enter(torch.nn.Module module)
    {
        var mode = new EvalMode(module);
        if (mode.wasTraining) module.eval();
        return mode;
    }

    /// <summary>Restores training mode if the module was in it.</summary>
    public void Dispose()
    {
        if (wasTraining) module.train();
    }
}
