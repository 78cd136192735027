using System.Runtime.InteropServices;

namespace Ptm.Distributed;

/// <summary>
/// The few entry points of Open MPI's C library (<c>libmpi.so.40</c>, Debian's <c>libopenmpi3</c>) that data-parallel
/// training needs, bound by hand: no maintained MPI binding for .NET exists on the package registry.
/// </summary>
/// <remarks>
/// <para>Open MPI's handles (<c>MPI_COMM_WORLD</c>, <c>MPI_FLOAT</c>, <c>MPI_SUM</c>, …) are the addresses of global
/// objects the library exports (<c>ompi_mpi_comm_world</c>, …), so they are read with dlsym; MPICH-style integer handles
/// are a different ABI and are refused with a clear message. The library is opened with RTLD_GLOBAL because Open MPI's
/// plug-ins resolve its symbols from the global namespace.</para>
/// <para>Before MPI starts, <c>OMPI_MCA_opal_signal</c> is set to empty (unless the user set it): Open MPI otherwise
/// installs its own SIGSEGV/SIGBUS/SIGFPE/SIGILL handlers, and .NET turns SIGSEGV into NullReferenceException.</para>
/// </remarks>
internal sealed unsafe class MpiLibrary
{
    public const string FileName = "libmpi.so.40";
    const int RtldNow = 2, RtldGlobal = 0x100;
    const int ThreadSerialized = 2;

    readonly nint library;

    public readonly delegate* unmanaged<int*, nint, int, int*, int> InitThread;
    public readonly delegate* unmanaged<int*, int> Initialized;
    public readonly delegate* unmanaged<int*, int> Finalized;
    public readonly delegate* unmanaged<int> Finalize;
    public readonly delegate* unmanaged<nint, int*, int> CommRank;
    public readonly delegate* unmanaged<nint, int*, int> CommSize;
    public readonly delegate* unmanaged<nint, nint, int, nint, nint, nint, int> Allreduce;
    public readonly delegate* unmanaged<nint, int, nint, int, nint, int> Bcast;
    public readonly delegate* unmanaged<nint, int> Barrier;
    public readonly delegate* unmanaged<nint, int, int> Abort;
    public readonly delegate* unmanaged<nint, nint, int> CommSetErrhandler;
    public readonly delegate* unmanaged<int, byte*, int*, int> ErrorString;
    public readonly delegate* unmanaged<nint, int, nint*, int> OpCreate;
    public readonly delegate* unmanaged<nint*, int> OpFree;

    /// <summary>MPI_COMM_WORLD.</summary>
    public readonly nint CommWorld;
    public readonly nint Float, Double, Int64, UInt16, Byte;
    public readonly nint Sum;
    public readonly nint ErrorsReturn;

    /// <summary>MPI_IN_PLACE in Open MPI's mpi.h.</summary>
    public static readonly nint InPlace = 1;

    MpiLibrary(nint library)
    {
        this.library = library;
        InitThread = (delegate* unmanaged<int*, nint, int, int*, int>)Symbol("MPI_Init_thread");
        Initialized = (delegate* unmanaged<int*, int>)Symbol("MPI_Initialized");
        Finalized = (delegate* unmanaged<int*, int>)Symbol("MPI_Finalized");
        Finalize = (delegate* unmanaged<int>)Symbol("MPI_Finalize");
        CommRank = (delegate* unmanaged<nint, int*, int>)Symbol("MPI_Comm_rank");
        CommSize = (delegate* unmanaged<nint, int*, int>)Symbol("MPI_Comm_size");
        Allreduce = (delegate* unmanaged<nint, nint, int, nint, nint, nint, int>)Symbol("MPI_Allreduce");
        Bcast = (delegate* unmanaged<nint, int, nint, int, nint, int>)Symbol("MPI_Bcast");
        Barrier = (delegate* unmanaged<nint, int>)Symbol("MPI_Barrier");
        Abort = (delegate* unmanaged<nint, int, int>)Symbol("MPI_Abort");
        CommSetErrhandler = (delegate* unmanaged<nint, nint, int>)Symbol("MPI_Comm_set_errhandler");
        ErrorString = (delegate* unmanaged<int, byte*, int*, int>)Symbol("MPI_Error_string");
        OpCreate = (delegate* unmanaged<nint, int, nint*, int>)Symbol("MPI_Op_create");
        OpFree = (delegate* unmanaged<nint*, int>)Symbol("MPI_Op_free");
        if (!NativeLibrary.TryGetExport(library, "ompi_mpi_comm_world", out CommWorld))
            throw new DistributedException($"{FileName} is not Open MPI (no ompi_mpi_comm_world); Ptm binds Open MPI's ABI (Debian: apt-get install openmpi-bin)");
        Float = Symbol("ompi_mpi_float");
        Double = Symbol("ompi_mpi_double");
        Int64 = Symbol("ompi_mpi_int64_t");
        UInt16 = Symbol("ompi_mpi_uint16_t");
        Byte = Symbol("ompi_mpi_byte");
        Sum = Symbol("ompi_mpi_op_sum");
        ErrorsReturn = Symbol("ompi_mpi_errors_return");
    }

    nint Symbol(string name) => NativeLibrary.TryGetExport(library, name, out nint address)
        ? address
        : throw new DistributedException($"{FileName}: missing symbol {name}; is this Open MPI 4 or later?");

    static MpiLibrary? loaded;
    static readonly object gate = new();

    /// <summary>Whether Open MPI's library can be opened on this machine (without starting MPI).</summary>
    public static bool IsAvailable(out string reason)
    {
        try
        {
            Load();
            reason = "";
            return true;
        }
        catch (DistributedException e)
        {
            reason = e.Message;
            return false;
        }
    }

    /// <summary>Opens the library once per process.</summary>
    /// <exception cref="DistributedException">it is missing or is not Open MPI</exception>
    public static MpiLibrary Load()
    {
        lock (gate)
        {
            if (loaded is not null) return loaded;
            nint handle = Native.dlopen(FileName, RtldNow | RtldGlobal);
            if (handle == 0)
                throw new DistributedException($"cannot load {FileName} ({Native.LastDlError()}); data-parallel training needs Open MPI (Debian: apt-get install openmpi-bin)");
            return loaded = new MpiLibrary(handle);
        }
    }

    /// <summary>Starts MPI (thread level "serialized": any one thread at a time may call it).</summary>
    public void Start()
    {
        Native.setenv("OMPI_MCA_opal_signal", "", 0);
        int provided;
        Check(InitThread(null, 0, ThreadSerialized, &provided), "MPI_Init_thread");
        Check(CommSetErrhandler(CommWorld, ErrorsReturn), "MPI_Comm_set_errhandler");
    }

    public bool IsInitialized
    {
        get
        {
            int flag;
            Check(Initialized(&flag), "MPI_Initialized");
            return flag != 0;
        }
    }

    public bool IsFinalized
    {
        get
        {
            int flag;
            Check(Finalized(&flag), "MPI_Finalized");
            return flag != 0;
        }
    }

    /// <summary>Throws a one-line <see cref="DistributedException"/> for a non-zero MPI return code.</summary>
    public void Check(int code, string operation)
    {
        if (code == 0) return;
        byte* text = stackalloc byte[512];
        int length = 0;
        string detail = ErrorString(code, text, &length) == 0 ? System.Text.Encoding.ASCII.GetString(text, length) : $"error code {code}";
        throw new DistributedException($"{operation} failed: {detail.Trim()}");
    }

    static class Native
    {
        [DllImport("libc.so.6", CharSet = CharSet.Ansi)]
        public static extern nint dlopen(string file, int mode);

        [DllImport("libc.so.6")]
        static extern nint dlerror();

        [DllImport("libc.so.6", CharSet = CharSet.Ansi)]
        public static extern int setenv(string name, string value, int overwrite);

        public static string LastDlError() => Marshal.PtrToStringAnsi(dlerror()) ?? "unknown error";
    }
}
