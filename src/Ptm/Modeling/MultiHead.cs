using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Ptm.Modeling;

/// <summary>The part of multi-head attention every kind shares: heads in and out, and scaled dot products.</summary>
public static class MultiHead
{
    /// <summary>(B, T, C) to (B, nh, T, C/nh).</summary>
    public static Tensor Split(Tensor x, int nHead) => x.view(x.size(0), x.size(1), nHead, x.size(2) / nHead).transpose(1, 2);

    /// <summary>
    /// GPT-2's packed projection (B, T, 3C), laid out [q | k | v], to three (B, nh, T, C/nh) views: the same views as
    /// splitting first and then <see cref="Split"/>ting each part, in three native calls instead of seven.
    /// </summary>
    public static (Tensor Q, Tensor K, Tensor V) SplitPacked(Tensor qkv, int nHead)
    {
        long B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3;
        var parts = qkv.view(B, T, 3, nHead, C / nHead).permute(2, 0, 3, 1, 4).unbind(0); // 3 × (B, nh, T, hs)
        return (parts[0], parts[1], parts[2]);
    }

    /// <summary>
    /// softmax(q kᵀ / √d + mask) v per head, heads merged back to (B, T, C). <paramref name="mask"/> is boolean,
    /// true where a query may attend, broadcastable to (B, nh, Tq, Tk); <paramref name="dropout"/> must be 0 in eval.
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal, double dropout)
    {
        var y = functional.scaled_dot_product_attention(q, k, v, mask, dropout, is_casual: causal); // (B, nh, T, hs)
        long B = y.size(0), T = y.size(2), C = y.size(1) * y.size(3);
        // One query per row (decoding): (B, nh, 1, hs) already lies in memory as (B, 1, C).
        if (T == 1 && y.is_contiguous()) return y.view(B, 1, C);
        return y.transpose(1, 2).reshape(B, T, C);                         // (B, T, C)
    }
}
