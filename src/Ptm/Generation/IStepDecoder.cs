using static TorchSharp.torch;

namespace Ptm.Generation;

/// <summary>
/// A language model seen one decoding step at a time, for search algorithms (greedy, sampling, beam search) that do not
/// care whether it is a decoder-only GPT continuing a prompt or an encoder–decoder continuing a target given a source.
/// It holds the per-row state of a batch of hypotheses (KV caches, encoder outputs, positions); rows are independent.
/// </summary>
/// <remarks>
/// Protocol: <see cref="Start"/> once, then <see cref="Step"/> once per generated token; <see cref="Reorder"/> between
/// steps when the search keeps, drops or duplicates hypotheses (beam search). Returned tensors belong to the caller's
/// dispose scope.
/// </remarks>
public interface IStepDecoder : IDisposable
{
    /// <summary>Number of rows (hypotheses) in the batch now.</summary>
    long Rows { get; }

    /// <summary>Size of the vocabulary the log-probabilities range over.</summary>
    int VocabSize { get; }

    /// <summary>How many more tokens each row can take before the model's context is full.</summary>
    int RemainingCapacity { get; }

    /// <summary>Consumes every row's prefix (prompt, or decoder start tokens) and returns the log-probabilities of each
    /// row's next token, (Rows, V) float32.</summary>
    Tensor Start();

    /// <summary>Appends <paramref name="tokens"/> (Rows) int64, one per row, and returns the log-probabilities of the
    /// token after it, (Rows, V) float32.</summary>
    Tensor Step(Tensor tokens);

    /// <summary>Rebuilds the batch from existing rows: new row i continues old row <paramref name="rows"/>[i]
    /// ((N) int64; N may differ from <see cref="Rows"/>, a row may appear several times or not at all).</summary>
    void Reorder(Tensor rows);
}
