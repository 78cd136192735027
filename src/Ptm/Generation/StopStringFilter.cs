namespace Ptm.Generation;

/// <summary>
/// Streams text while watching for stop strings: text that could still turn out to be the start of a stop
/// string is held back, and once a stop string appears everything from it on is dropped.
/// </summary>
internal sealed class StopStringFilter(IReadOnlyList<string> stops)
{
    string pending = "";

    /// <summary>True once a stop string has appeared; later pushes return nothing.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds newly decoded text; returns what can be shown now.</summary>
    public string Push(string text)
    {
        if (Stopped) return "";
        pending += text;
        int cut = -1;
        foreach (var s in stops)
        {
            int at = pending.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            string shown = pending[..cut];
            pending = "";
            return shown;
        }
        int hold = 0;
        foreach (var s in stops)
            for (int n = Math.Min(s.Length - 1, pending.Length); n > hold; n--)
                if (pending.EndsWith(s[..n], StringComparison.Ordinal)) { hold = n; break; }
        string ready = pending[..^hold];
        pending = pending[^hold..];
        return ready;
    }

    /// <summary>What is still held back once generation ends without a stop string.</summary>
    public string Flush()
    {
        string rest = Stopped ? "" : pending;
        pending = "";
        return rest;
    }
}
