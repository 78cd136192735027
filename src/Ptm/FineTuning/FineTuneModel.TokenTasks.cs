using Ptm.Tokenization;
using static TorchSharp.torch;

namespace Ptm.FineTuning;

// Tagging and span QA: their inputs are built from token offsets, and their predictions are read back per word
// or per character rather than per example.
public sealed partial class FineTuneModel
{
    /// <summary>The family's tokenizer and special tokens for tagging and span inputs.</summary>
    ITokenTaskFraming Framing => Encoder switch
    {
        BertTaskEncoder bert => new BertTokenFraming(bert.Tokenizer),
        GptTaskEncoder gpt => new GptTokenFraming(gpt.Tokenizer, gpt.Tokens),
        _ => throw new InvalidOperationException($"{Info.Task}: no token-level framing for {Encoder.GetType().Name}"),
    };

    EncodedTaskSet EncodeTokenLevel(TaskData data, bool requireLabels)
    {
        var encoded = new List<EncodedExample>(data.Count);
        var framing = Framing;
        int truncated = 0;
        for (int i = 0; i < data.Count; i++)
        {
            var e = data.Examples[i];
            bool cut;
            if (Task == FineTuneTask.Tag)
            {
                int[]? tagIds = null;
                if (requireLabels)
                    tagIds = (e.Tags ?? throw new InvalidInputException($"{data.Source}, line {e.Line}: no tags"))
                        .Select(t => Labels!.Id(t, data.Source, e.Line)).ToArray();
                var x = TagEncoding.Encode(framing, e.Words!, tagIds, Info.MaxLength);
                cut = x.Truncated;
                encoded.Add(x);
            }
            else
            {
                if (requireLabels && e.AnswerStart < 0) throw new InvalidInputException($"{data.Source}, line {e.Line}: no answer");
                var (windows, questionCut) = SpanEncoding.Encode(framing, requireLabels ? e : e with { AnswerStart = -1 }, i, Info.MaxLength, Info.DocStride, data.Source);
                cut = questionCut;
                encoded.AddRange(windows);
            }
            if (cut) truncated++;
        }
        return new EncodedTaskSet(data, encoded, truncated);
    }

    /// <summary>The logits of every encoded sequence, each cut to its own length: (T, C) as rows of T arrays.</summary>
    List<float[][]> SequenceLogits(EncodedTaskSet set, int batchSize)
    {
        bool wasTraining = Module.training;
        Module.eval();
        try
        {
            using var _ = no_grad();
            var result = new List<float[][]>(set.Count);
            foreach (var (start, batch) in TaskBatchStream.Sequential(set, batchSize, Encoder.PadId))
            {
                using (batch)
                using (var scope = NewDisposeScope())
                {
                    var (scores, _) = Forward(batch, false);                    // (B, T, C)
                    long B = scores.shape[0], T = scores.shape[1], C = scores.shape[2];
                    var flat = scores.to_type(ScalarType.Float32).data<float>().ToArray();
                    for (int b = 0; b < B; b++)
                    {
                        int length = set.Examples[start + b].Sequences[0].Length;
                        result.Add(Enumerable.Range(0, length).Select(t => flat.AsSpan((int)((b * T + t) * C), (int)C).ToArray()).ToArray());
                    }
                }
            }
            return result;
        }
        finally
        {
            Module.train(wasTraining);
        }
    }

    /// <summary>A tag id per word of every example: the argmax at the word's first piece. A word that was truncated
    /// away (or has no pieces) gets "O" when the label map has it, else label 0.</summary>
    public List<int[]> PredictTags(EncodedTaskSet set, int batchSize = 32)
    {
        if (Task != FineTuneTask.Tag) throw new InvalidOperationException("PredictTags is for the tag task (FineTuneTask.Tag)");
        int fallback = Labels!.Labels.ToList().IndexOf("O") is int o and >= 0 ? o : 0;
        var logits = SequenceLogits(set, batchSize);
        return set.Examples.Select((e, i) => e.WordFirstTokens!.Select(t => t < 0 ? fallback : ArgMax(logits[i][t])).ToArray()).ToList();
    }

    /// <summary>The n-best answers of every example (best first; empty when no window held a valid span).</summary>
    public List<List<SpanAnswer>> PredictSpans(EncodedTaskSet set, int batchSize = 32)
    {
        if (Task != FineTuneTask.Span) throw new InvalidOperationException("PredictSpans is for the span task (FineTuneTask.Span)");
        var logits = SequenceLogits(set, batchSize);
        var byExample = set.Examples.Select((e, i) => (e.Window!, Start: logits[i].Select(r => r[0]).ToArray(), End: logits[i].Select(r => r[1]).ToArray()))
            .ToLookup(w => w.Item1.ExampleIndex);
        return set.Data.Examples.Select((e, i) => SpanDecoder.NBest(e.TextPair!, byExample[i], Info.SpanOptions)).ToList();
    }

    static int ArgMax(float[] values)
    {
        int best = 0;
        for (int j = 1; j < values.Length; j++) if (values[j] > values[best]) best = j;
        return best;
    }
}

/// <summary>Predicts a labelled set and scores it: the numbers both validation and `ptm evaluate` report.</summary>
public static class TokenTaskScores
{
    /// <summary>Tags every example of <paramref name="set"/> (labelled) and scores the tags against the gold ones.</summary>
    public static TaggingMetrics Tagging(FineTuneModel model, EncodedTaskSet set, int batchSize = 32)
    {
        var names = model.Labels!.Labels;
        var predicted = model.PredictTags(set, batchSize);
        return TagMetrics.Score(set.Data.Examples.Select(e => e.Tags!).ToList(),
            predicted.Select(p => (IReadOnlyList<string>)p.Select(id => names[id]).ToList()).ToList());
    }

    /// <summary>Answers every question of <paramref name="set"/> (labelled) with the model's top span and scores the
    /// answers against the gold ones.</summary>
    public static SpanMetrics Spans(FineTuneModel model, EncodedTaskSet set, int batchSize = 32)
    {
        var answers = model.PredictSpans(set, batchSize);
        return SquadMetrics.Score(answers.Select(a => a.Count == 0 ? "" : a[0].Text).ToList(), set.Data.Examples.Select(e => e.Label!).ToList());
    }
}
