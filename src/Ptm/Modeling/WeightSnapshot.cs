using static TorchSharp.torch;

namespace Ptm.Modeling;

/// <summary>
/// A detached copy of every tensor of a module's state_dict (weights and buffers), by key: what keeping the best
/// epoch and averaging epochs hold between epochs. <see cref="Dispose"/> frees the copies.
/// </summary>
sealed class WeightSnapshot : IDisposable
{
    readonly Dictionary<string, Tensor> tensors;

    WeightSnapshot(Dictionary<string, Tensor> tensors) => this.tensors = tensors;

    /// <summary>Copies <paramref name="module"/>'s current state_dict.</summary>
    public static WeightSnapshot Of(nn.Module module) =>
        new(module.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));

    /// <summary>Writes the copied tensors back into <paramref name="module"/> (same keys and shapes).</summary>
    public void LoadInto(nn.Module module)
    {
        using var _ = no_grad();
        foreach (var (name, t) in module.state_dict()) t.copy_(tensors[name]);
    }

    /// <summary>Writes the element-wise mean of <paramref name="snapshots"/> into <paramref name="module"/>,
    /// summed in float64 and cast back to each tensor's type.</summary>
    public static void LoadMean(nn.Module module, IReadOnlyCollection<WeightSnapshot> snapshots)
    {
        using var _ = no_grad();
        foreach (var (name, t) in module.state_dict())
        {
            using var scope = NewDisposeScope();
            var total = zeros_like(t, dtype: ScalarType.Float64);
            foreach (var s in snapshots) total.add_(s.tensors[name].to_type(ScalarType.Float64));
            t.copy_(total.div_(snapshots.Count).to_type(t.dtype));
        }
    }

    /// <summary>Frees the copies.</summary>
    public void Dispose()
    {
        foreach (var t in tensors.Values) t.Dispose();
    }
}
