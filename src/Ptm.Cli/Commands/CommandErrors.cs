using Ptm.Training;

namespace Ptm.Cli.Commands;

/// <summary>Turns the library's user-facing failures into one line on stderr and exit code 1.</summary>
static class CommandErrors
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is InvalidInputException or NonFiniteLossException)
        {
            Console.Out.Flush();
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }
}
