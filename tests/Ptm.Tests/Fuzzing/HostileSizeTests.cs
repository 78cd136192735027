using Ptm.Fuzz;

namespace Ptm.Tests.Fuzzing;

/// <summary>
/// Hostile sizes (<see cref="HostileInputs"/>): a 10¹²-element header, an overflowing shape, a 10⁸-entry vocabulary,
/// a 2 GiB task-file line, a 10⁷-character prompt. Each is refused with a one-line message that names the limit,
/// and the peak resident memory of the call stays under <see cref="CapMib"/> — reading any of these inputs as
/// claimed would take gigabytes. 10⁷ characters to a tokenizer's Encode are accepted, under the same cap. Peaks
/// measured alone are in docs/fuzzing.md.
/// </summary>
public class HostileSizeTests
{
    /// <summary>Generous against the few MiB a refusal takes, since test classes running in parallel share the
    /// process peak; far below what reading the claimed sizes would take.</summary>
    const double CapMib = 400;

    /// <summary>The name of every case.</summary>
    public static TheoryData<string> Cases() => new(HostileInputs.All.Select(c => c.Name));

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void RefusedEarly_WithBoundedMemory(string name)
    {
        var c = HostileInputs.All.Single(h => h.Name == name);
        var peaks = new List<string>();
        // Another test may allocate while this one measures: a disturbed reading is taken again (three tries).
        for (int attempt = 0; attempt < 3; attempt++)
        {
            using var dir = new TempDir();
            var (message, peak) = HostileInputs.Measure(c, dir.Path);
            if (c.Expected is null) Assert.Null(message);
            else
            {
                Assert.NotNull(message);
                Assert.Contains(c.Expected, message);
                Assert.DoesNotContain('\n', message);
            }
            Skip.If(peak is null, "the peak resident size cannot be reset here (/proc/self/clear_refs)");
            if (peak < CapMib) return;
            peaks.Add($"{peak:F0} MiB");
        }
        Assert.Fail($"{name}: peak resident growth over {CapMib} MiB in every try ({string.Join(", ", peaks)})");
    }
}
