using TorchSharp;
using static TorchSharp.torch;

namespace Ptm.Modeling;

/// <summary>The boolean attention masks of causal decoding (true = may attend), built once per forward pass.</summary>
public static class AttentionMasks
{
    /// <summary>(T, past+T): query i sits at absolute position past+i and may see keys 0..past+i.</summary>
    public static Tensor Causal(long T, long past, Device device) =>
        ones(T, past + T, ScalarType.Bool, device).tril(past);

    /// <summary>
    /// (B, 1, T, past+T) for left-padded rows: causal, and only keys whose <paramref name="keyMask"/> (B, past+T) entry is
    /// true. Each query may also always see itself, so a padding query still has one key: a row with none would turn
    /// into NaNs in softmax and, through the next layer's keys and values, reach the real tokens.
    /// </summary>
    public static Tensor CausalWithKeys(Tensor keyMask, long T, long past)
    {
        using var scope = NewDisposeScope();
        long B = keyMask.size(0), keys = past + T;
        if (T == 1) return keyMask.view(B, 1, 1, keys).MoveToOuterDisposeScope();
        var causal = Causal(T, past, keyMask.device);                      // (T, keys)
        var self = causal.logical_and(ones(T, keys, ScalarType.Bool, keyMask.device).triu(past)); // key past+i for query i
        var allowed = causal.logical_and(keyMask.view(B, 1, 1, keys)).logical_or(self); // (B, 1, T, keys)
        return allowed.MoveToOuterDisposeScope();
    }
}
