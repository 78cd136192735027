using Ptm.Distributed;

namespace Ptm.Tests.Distributed;

/// <summary>
/// An in-process <see cref="IProcessGroup"/>: each rank is a thread, collectives meet at a barrier and sum in rank
/// order (v0 + v1 + …), so results are deterministic. Lets the data-parallel trainer be tested without MPI.
/// </summary>
sealed class ThreadProcessGroup(ThreadProcessGroup.Hub hub, int rank) : IProcessGroup
{
    public sealed class Hub(int size)
    {
        public readonly Barrier Barrier = new(size);
        public readonly object?[] Slots = new object?[size];
        public int Size => size;
        public int Collectives;
    }

    public static ThreadProcessGroup[] Create(int size)
    {
        var hub = new Hub(size);
        return Enumerable.Range(0, size).Select(r => new ThreadProcessGroup(hub, r)).ToArray();
    }

    public int Rank => rank;
    public int Size => hub.Size;
    public int Collectives => hub.Collectives;

    void Sum<T>(Span<T> values, Func<T, T, T> add)
    {
        hub.Slots[rank] = values.ToArray();
        hub.Barrier.SignalAndWait();
        if (rank == 0) Interlocked.Increment(ref hub.Collectives);
        for (int i = 0; i < values.Length; i++)
        {
            T s = ((T[])hub.Slots[0]!)[i];
            for (int r = 1; r < hub.Size; r++) s = add(s, ((T[])hub.Slots[r]!)[i]);
            values[i] = s;
        }
        hub.Barrier.SignalAndWait(); // nobody overwrites a slot before everyone has read it
    }

    public void AllReduceSum(Span<float> values) => Sum(values, (a, b) => a + b);
    public void AllReduceSum(Span<double> values) => Sum(values, (a, b) => a + b);
    public void AllReduceSum(Span<long> values) => Sum(values, (a, b) => a + b);

    public void AllReduceSumBFloat16(Span<ushort> values) =>
        Sum(values, (a, b) => BFloat16.FromSingle(BFloat16.ToSingle(a) + BFloat16.ToSingle(b)));

    public void Broadcast(Span<byte> bytes, int root)
    {
        if (rank == root) hub.Slots[root] = bytes.ToArray();
        hub.Barrier.SignalAndWait();
        ((byte[])hub.Slots[root]!).CopyTo(bytes);
        hub.Barrier.SignalAndWait();
    }

    public void Barrier() => hub.Barrier.SignalAndWait();

    public void Abort(int exitCode) => throw new InvalidOperationException($"rank {rank} aborted with {exitCode}");

    public void Dispose() { }
}
