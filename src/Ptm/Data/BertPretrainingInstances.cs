namespace Ptm.Data;

/// <summary>
/// Builds unmasked pre-training instances from documents already split into encoded sentences, following
/// create_instances_from_document in Google's BERT create_pretraining_data.py (github.com/google-research/bert);
/// SOP follows ALBERT's variant of the same function.
/// </summary>
/// <remarks>
/// <para>Per document and per dupe pass: a target length (MaxSeqLength - 3, or with probability ShortSeqProb a
/// uniform length in [2, MaxSeqLength - 3], chosen once per document pass as in Google); sentences accumulate into a
/// chunk until it reaches the target or the document ends; A is the chunk's first 1..k-1 sentences (a random
/// boundary). NSP: with probability 0.5, or always when the chunk is a single sentence, B is text from a random
/// start in a random other document (label 1) and the chunk's unused sentences are put back for the next chunk;
/// otherwise B is the rest of the chunk (label 0). SOP: same, but the 0.5 branch keeps B as the rest of the chunk and
/// swaps A and B (label 1); single-sentence chunks still take a random B with label 1, as ALBERT does.</para>
/// <para>One deliberate difference: Google tries ten times to draw a document other than the current one and may
/// give up and use the same document; here the other document is drawn uniformly from the rest, so a "random next"
/// B never comes from A's document.</para>
/// <para>A document with a single sentence makes one instance per pass whose B is random (Google's single-chunk
/// rule); it can also be drawn as another document's random B. Empty documents are dropped before anything else.</para>
/// <para>Because single-sentence chunks always take a random B, the NSP labels lean towards 1 on short documents
/// (measured: ~56% label 1 for documents of ~20 sentences, ~52% for ~300, 50% with ShortSeqProb 0); the manifest
/// reports the actual balance per split.</para>
/// </remarks>
public static class BertPretrainingInstances
{
    /// <summary>All instances of one split, shuffled. <paramref name="documents"/>[d][s] is the ids of sentence s of document d.</summary>
    public static List<BertInstance> Create(IReadOnlyList<int[][]> documents, IMaskingVocabulary vocab, BertDataOptions options, ref SplitMix64 rng)
    {
        options.Validate();
        var docs = documents.Where(d => d.Any(s => s.Length > 0)).Select(d => d.Where(s => s.Length > 0).ToArray()).ToList();
        if (options.Task != PairTask.None && docs.Count < 2)
            throw new InvalidInputException(
                $"BertDataOptions.Task {options.Task.ToString().ToUpperInvariant()} needs at least 2 non-empty documents in each split to draw sentence B from another document (got {docs.Count}); "
                + "give more documents (a single text is cut at blank lines into paragraphs, each a document) or use PairTask.None (pair_task \"none\": packed full sentences, MLM only)");
        var instances = new List<BertInstance>();
        if (options.Task == PairTask.None)
        {
            // Packing is deterministic, so copies differ only in their masks: one copy is enough when masks are dynamic.
            int copies = options.Masking == MaskingMode.Dynamic ? 1 : options.DupeFactor;
            var packed = Pack(docs, vocab, options.MaxSeqLength);
            for (int c = 0; c < copies; c++) instances.AddRange(packed);
        }
        else
            for (int pass = 0; pass < options.DupeFactor; pass++)
                for (int d = 0; d < docs.Count; d++)
                    FromDocument(docs, d, vocab, options, ref rng, instances);
        rng.Shuffle(instances);
        return instances;
    }

    static void FromDocument(List<int[][]> docs, int docIndex, IMaskingVocabulary vocab, BertDataOptions options,
        ref SplitMix64 rng, List<BertInstance> output)
    {
        int[][] document = docs[docIndex];
        int maxNumTokens = options.MaxNumTokens;
        int target = maxNumTokens;
        // Mostly fill the sequence (pre-training is cheapest per token at full length) but sometimes not, so the
        // model also sees the short sequences of fine-tuning.
        if (rng.NextDouble() < options.ShortSeqProb) target = rng.NextInclusive(2, maxNumTokens);

        var chunk = new List<int[]>();
        int chunkLength = 0;
        for (int i = 0; i < document.Length; i++)
        {
            chunk.Add(document[i]);
            chunkLength += document[i].Length;
            if (i != document.Length - 1 && chunkLength < target) continue;

            int aEnd = chunk.Count >= 2 ? rng.NextInclusive(1, chunk.Count - 1) : 1;
            var a = new List<int>();
            for (int j = 0; j < aEnd; j++) a.AddRange(chunk[j]);
            var b = new List<int>();
            int label;
            bool single = chunk.Count == 1;
            bool flip = !single && rng.NextDouble() < 0.5;
            if (single || (flip && options.Task == PairTask.Nsp))
            {
                label = 1;
                int targetB = target - a.Count;
                int other = (int)rng.NextBelow((ulong)docs.Count - 1);
                if (other >= docIndex) other++; // uniform over the other documents
                int[][] random = docs[other];
                for (int j = rng.NextInclusive(0, random.Length - 1); j < random.Length; j++)
                {
                    b.AddRange(random[j]);
                    if (b.Count >= targetB) break;
                }
                i -= chunk.Count - aEnd; // the chunk's unused sentences start the next chunk
            }
            else
            {
                for (int j = aEnd; j < chunk.Count; j++) b.AddRange(chunk[j]);
                label = flip ? 1 : 0; // only SOP reaches here with flip set
                if (flip) (a, b) = (b, a);
            }
            TruncateSeqPair(a, b, maxNumTokens, ref rng);
            output.Add(Pair(a, b, label, vocab));
            chunk.Clear();
            chunkLength = 0;
        }
    }

    /// <summary><c>[CLS] A [SEP] B [SEP]</c>, B's type starting after the first [SEP].</summary>
    public static BertInstance Pair(IReadOnlyList<int> a, IReadOnlyList<int> b, int label, IMaskingVocabulary vocab)
    {
        var tokens = new int[a.Count + b.Count + 3];
        tokens[0] = vocab.ClsId;
        for (int j = 0; j < a.Count; j++) tokens[1 + j] = a[j];
        tokens[a.Count + 1] = vocab.SepId;
        for (int j = 0; j < b.Count; j++) tokens[a.Count + 2 + j] = b[j];
        tokens[^1] = vocab.SepId;
        return new BertInstance(tokens, a.Count + 2, label, MlmMask.Empty);
    }

    /// <summary>
    /// Google's truncate_seq_pair: while the pair is longer than <paramref name="maxNumTokens"/>, drop one token from
    /// the longer side (B on a tie), from its front or back at random, so neither side is always cut at the same end.
    /// </summary>
    public static void TruncateSeqPair(List<int> a, List<int> b, int maxNumTokens, ref SplitMix64 rng)
    {
        while (a.Count + b.Count > maxNumTokens)
        {
            List<int> longer = a.Count > b.Count ? a : b;
            if (rng.NextDouble() < 0.5) longer.RemoveAt(0);
            else longer.RemoveAt(longer.Count - 1);
        }
    }

    /// <summary>
    /// RoBERTa FULL-SENTENCES: <c>[CLS] s s s [SEP] t t [SEP]</c> where s are sentences of one document and t of the
    /// next. Whole sentences are packed while they fit in MaxSeqLength - 2 (a [SEP] between documents counts); a
    /// sentence longer than a whole sequence is cut into pieces rather than dropped. Token types are all 0.
    /// </summary>
    public static List<BertInstance> Pack(IReadOnlyList<int[][]> documents, IMaskingVocabulary vocab, int maxSeqLength)
    {
        int budget = maxSeqLength - 2;
        var result = new List<BertInstance>();
        var current = new List<int>();
        bool needSeparator = false; // a document ended inside the current sequence

        void Emit()
        {
            if (current.Count == 0) return;
            int[] tokens = [vocab.ClsId, .. current, vocab.SepId];
            result.Add(new BertInstance(tokens, tokens.Length, BertInstance.NoPairLabel, MlmMask.Empty));
            current.Clear();
            needSeparator = false;
        }

        foreach (int[][] document in documents)
        {
            foreach (int[] sentence in document)
            {
                int offset = 0;
                while (offset < sentence.Length)
                {
                    int rest = sentence.Length - offset;
                    int separator = needSeparator ? 1 : 0;
                    if (current.Count + separator + rest > budget && current.Count > 0)
                    {
                        Emit();
                        continue;
                    }
                    if (needSeparator) { current.Add(vocab.SepId); needSeparator = false; }
                    int take = Math.Min(rest, budget - current.Count);
                    current.AddRange(sentence.AsSpan(offset, take));
                    offset += take;
                    if (current.Count == budget && offset < sentence.Length) Emit();
                }
            }
            if (current.Count > 0) needSeparator = true;
        }
        Emit();
        return result;
    }
}
