namespace Ptm;

/// <summary>
/// Bad user input: a missing or malformed file, a config field out of range, an id outside the vocabulary.
/// The message is one line that names the file or field and what was expected; the CLI prints it and exits 1.
/// </summary>
public sealed class InvalidInputException(string message, Exception? inner = null) : Exception(message, inner);
