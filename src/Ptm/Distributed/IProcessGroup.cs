namespace Ptm.Distributed;

/// <summary>
/// The processes that train one model together (PyTorch's "process group"): each knows its rank and the group's size,
/// and all of them call the same collectives in the same order. A collective returns when every rank has contributed;
/// a rank that stops calling them stalls the others, so errors must end the whole group (<see cref="Abort"/>).
/// </summary>
/// <remarks>Buffers are reduced in place. Sums of floating-point values depend on the order the implementation adds
/// them in; with two ranks addition is commutative, so every rank gets bit-identical results whatever the order.</remarks>
public interface IProcessGroup : IDisposable
{
    /// <summary>This process's rank, 0 .. <see cref="Size"/> − 1. Rank 0 writes logs and checkpoints.</summary>
    int Rank { get; }

    /// <summary>How many processes the group has.</summary>
    int Size { get; }

    /// <summary>Replaces <paramref name="values"/> on every rank by their element-wise sum over all ranks.</summary>
    void AllReduceSum(Span<float> values);

    /// <summary>Replaces <paramref name="values"/> on every rank by their element-wise sum over all ranks.</summary>
    void AllReduceSum(Span<double> values);

    /// <summary>Replaces <paramref name="values"/> on every rank by their element-wise sum over all ranks.</summary>
    void AllReduceSum(Span<long> values);

    /// <summary>Replaces <paramref name="values"/>, bfloat16 bit patterns, by their element-wise sum over all ranks,
    /// each addition done in float32 and rounded to the nearest bfloat16 (ties to even).</summary>
    void AllReduceSumBFloat16(Span<ushort> values);

    /// <summary>Copies rank <paramref name="root"/>'s <paramref name="bytes"/> into every other rank's.</summary>
    void Broadcast(Span<byte> bytes, int root);

    /// <summary>Returns on each rank once every rank has called it.</summary>
    void Barrier();

    /// <summary>Ends every process of the group with <paramref name="exitCode"/>; used when one rank fails, so the
    /// others do not wait for it forever. Does not return.</summary>
    void Abort(int exitCode);
}
