namespace Ptm.Distributed;

/// <summary>A collective or the MPI runtime failed (a peer died, the library is missing, an MPI error code): one line
/// naming the operation and the cause. The group cannot continue; a front end prints it and aborts every rank.</summary>
public sealed class DistributedException(string message, Exception? inner = null) : Exception(message, inner);
