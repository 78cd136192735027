namespace Ptm;

/// <summary>
/// Bad user input: a missing or malformed file, a config field out of range, an id outside the vocabulary.
/// The message is one line that names the file, field or property and what was expected; a command line prints it
/// and exits 1. Messages never name command-line flags: see <see cref="InvalidOptionException"/> for how a shell maps
/// an option property to its own flag.
/// </summary>
public class InvalidInputException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A property of an options record out of its range, e.g. <c>GenerationOptions.TopP must be in (0, 1] (got 1.5)</c>.
/// <see cref="OptionType"/> and <see cref="Property"/> identify the setting, so a shell such as the ptm command can
/// say the same thing in terms of its own flag (<c>--top-p must be in (0, 1] (got 1.5)</c>).
/// </summary>
public sealed class InvalidOptionException : InvalidInputException
{
    /// <summary>The options type, e.g. <c>GenerationOptions</c>.</summary>
    public string OptionType { get; }

    /// <summary>The property, e.g. <c>TopP</c>.</summary>
    public string Property { get; }

    /// <summary>What the value must be, e.g. <c>in (0, 1]</c>; follows "must be" or stands alone when it starts with a verb.</summary>
    public string Expectation { get; }

    /// <summary>The value given, as text (null when there is nothing useful to show).</summary>
    public string? Actual { get; }

    /// <summary>A property out of range: the message is "<paramref name="optionType"/>.<paramref name="property"/>
    /// <paramref name="expectation"/> (got <paramref name="actual"/>)".</summary>
    /// <param name="optionType">the options type, e.g. <c>GenerationOptions</c></param>
    /// <param name="property">the property, e.g. <c>TopP</c></param>
    /// <param name="expectation">what is expected, phrased to follow the name: "must be in (0, 1]"</param>
    /// <param name="actual">the value given, or null</param>
    public InvalidOptionException(string optionType, string property, string expectation, object? actual = null)
        : base(Format($"{optionType}.{property}", expectation, actual?.ToString()))
    {
        OptionType = optionType;
        Property = property;
        Expectation = expectation;
        Actual = actual?.ToString();
    }

    /// <summary>The same message with <paramref name="name"/> (a shell's flag, say) in place of Type.Property.</summary>
    public string MessageFor(string name) => Format(name, Expectation, Actual);

    static string Format(string name, string expectation, string? actual) =>
        actual is null ? $"{name} {expectation}" : $"{name} {expectation} (got {actual})";
}
