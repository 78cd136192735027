namespace Ptm.FineTuning.Baselines;

/// <summary>A sparse design matrix in compressed rows: row r's entries are [RowStarts[r], RowStarts[r + 1]) of
/// <see cref="Columns"/> and <see cref="Values"/>.</summary>
internal sealed class SparseRows
{
    readonly List<int> rowStarts = [0];
    readonly List<int> columns = [];
    readonly List<double> values = [];

    public SparseRows(int columnCount)
    {
        if (columnCount < 1) throw new ArgumentOutOfRangeException(nameof(columnCount), "a design matrix needs at least one column");
        ColumnCount = columnCount;
    }

    public int ColumnCount { get; }
    public int RowCount => rowStarts.Count - 1;
    public int NonZeros => columns.Count;
    public IReadOnlyList<int> RowStarts => rowStarts;
    public IReadOnlyList<int> Columns => columns;
    public IReadOnlyList<double> Values => values;

    /// <summary>Appends a row made of blocks, each vector's ids shifted by its block's first column.</summary>
    public void AddBlocks(params ReadOnlySpan<(int Offset, SparseVector Vector)> blocks)
    {
        foreach (var (offset, vector) in blocks)
            for (int i = 0; i < vector.Count; i++) Add(offset + vector.Ids[i], vector.Values[i]);
        rowStarts.Add(columns.Count);
    }

    /// <summary>Appends a row from (column, value) entries.</summary>
    public void AddRow(IEnumerable<(int Column, double Value)> entries)
    {
        foreach (var (c, v) in entries) Add(c, v);
        rowStarts.Add(columns.Count);
    }

    void Add(int column, double value)
    {
        if ((uint)column >= (uint)ColumnCount) throw new ArgumentOutOfRangeException(nameof(column), $"column {column} outside [0, {ColumnCount})");
        columns.Add(column);
        values.Add(value);
    }
}
