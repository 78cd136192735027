using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Ptm.Distributed;

/// <summary>
/// The processes started by <c>mpirun</c> (Open MPI), as one <see cref="IProcessGroup"/> over MPI_COMM_WORLD. Started
/// once per process with <see cref="Start"/>; disposing it finalizes MPI, which cannot be started again afterwards.
/// </summary>
/// <example>
/// <code>
/// // mpirun -np 2 dotnet MyTrainer.dll
/// using var group = MpiProcessGroup.Start();
/// using var run = Pretraining.Gpt(corpus, options, new RunFolder("runs/x"), processGroup: group);
/// run.Train();
/// </code>
/// </example>
/// <remarks>MPI errors return codes rather than aborting (MPI_ERRORS_RETURN), and each becomes a one-line
/// <see cref="DistributedException"/>; call <see cref="Abort"/> on failure so the other ranks stop too.</remarks>
public sealed unsafe class MpiProcessGroup : IProcessGroup
{
    const int Chunk = 1 << 28; // elements per MPI call: counts are C ints
    static MpiProcessGroup? current;
    static readonly object gate = new();

    readonly MpiLibrary mpi;
    nint bf16Sum;
    bool disposed;

    MpiProcessGroup(MpiLibrary mpi)
    {
        this.mpi = mpi;
        int rank, size;
        mpi.Check(mpi.CommRank(mpi.CommWorld, &rank), "MPI_Comm_rank");
        mpi.Check(mpi.CommSize(mpi.CommWorld, &size), "MPI_Comm_size");
        Rank = rank;
        Size = size;
    }

    /// <summary>Whether Open MPI's library is installed; <paramref name="reason"/> says why not.</summary>
    public static bool IsAvailable(out string reason) => MpiLibrary.IsAvailable(out reason);

    /// <summary>Starts MPI in this process (once; later calls return the same group until it is disposed). Run under
    /// <c>mpirun</c> for several ranks; started alone, the process is a group of one.</summary>
    /// <exception cref="DistributedException">Open MPI is missing, or MPI failed to start or was already finalized</exception>
    public static MpiProcessGroup Start()
    {
        lock (gate)
        {
            if (current is { disposed: false }) return current;
            var mpi = MpiLibrary.Load();
            if (mpi.IsFinalized) throw new DistributedException("MPI was finalized in this process and cannot be started again");
            if (!mpi.IsInitialized) mpi.Start();
            return current = new MpiProcessGroup(mpi);
        }
    }

    /// <inheritdoc />
    public int Rank { get; }

    /// <inheritdoc />
    public int Size { get; }

    /// <inheritdoc />
    public void AllReduceSum(Span<float> values) => AllReduce(values, mpi.Float, mpi.Sum, "MPI_Allreduce(float)");

    /// <inheritdoc />
    public void AllReduceSum(Span<double> values) => AllReduce(values, mpi.Double, mpi.Sum, "MPI_Allreduce(double)");

    /// <inheritdoc />
    public void AllReduceSum(Span<long> values) => AllReduce(values, mpi.Int64, mpi.Sum, "MPI_Allreduce(int64)");

    /// <inheritdoc />
    public void AllReduceSumBFloat16(Span<ushort> values)
    {
        if (bf16Sum == 0)
        {
            nint op;
            delegate* unmanaged<nint, nint, int*, nint*, void> add = &AddBFloat16;
            mpi.Check(mpi.OpCreate((nint)add, 1, &op), "MPI_Op_create");
            bf16Sum = op;
        }
        AllReduce(values, mpi.UInt16, bf16Sum, "MPI_Allreduce(bfloat16)");
    }

    [UnmanagedCallersOnly]
    static void AddBFloat16(nint incoming, nint accumulator, int* length, nint* datatype) =>
        BFloat16.AddInto(new ReadOnlySpan<ushort>((void*)incoming, *length), new Span<ushort>((void*)accumulator, *length));

    void AllReduce<T>(Span<T> values, nint type, nint op, string name) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        fixed (T* p = values)
            for (int start = 0; start < values.Length; start += Chunk)
            {
                int count = Math.Min(Chunk, values.Length - start);
                mpi.Check(mpi.Allreduce(MpiLibrary.InPlace, (nint)(p + start), count, type, op, mpi.CommWorld), name);
            }
    }

    /// <inheritdoc />
    public void Broadcast(Span<byte> bytes, int root)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        fixed (byte* p = bytes)
            for (int start = 0; start < bytes.Length; start += Chunk)
                mpi.Check(mpi.Bcast((nint)(p + start), Math.Min(Chunk, bytes.Length - start), mpi.Byte, root, mpi.CommWorld), "MPI_Bcast");
    }

    /// <inheritdoc />
    public void Barrier()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        mpi.Check(mpi.Barrier(mpi.CommWorld), "MPI_Barrier");
    }

    /// <inheritdoc />
    public void Abort(int exitCode)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        mpi.Abort(mpi.CommWorld, exitCode);
        Environment.Exit(exitCode); // MPI_Abort does not return; this is for an MPI that does
    }

    /// <summary>Finalizes MPI (after a barrier-free return from the last collective, as MPI requires of every rank).</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (disposed) return;
            disposed = true;
            if (bf16Sum != 0)
            {
                nint op = bf16Sum;
                mpi.OpFree(&op);
                bf16Sum = 0;
            }
            if (!mpi.IsFinalized) mpi.Finalize();
        }
    }
}
