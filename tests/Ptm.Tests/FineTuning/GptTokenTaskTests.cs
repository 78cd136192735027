using Ptm.FineTuning;
using Ptm.HuggingFace;
using Ptm.Modeling;
using Ptm.Tokenization;
using Ptm.Training;
using static TorchSharp.torch;

namespace Ptm.Tests.FineTuning;

/// <summary>GPT tagging and span QA: exact inputs on a hand-made BPE, byte-level offsets, the causal view and HF's keys.</summary>
public class GptTokenTaskTests(FineTuningTestModels models) : IClassFixture<FineTuningTestModels>
{
    // A hand-made byte-level BPE: the 256 bytes (id = byte value), seven merges (ids 256..262), <|endoftext|> (263) and
    // GPT-1's task tokens (264..266), so every id below can be checked by hand. "Ġ" is GPT-2's symbol for a space.
    const int I = 105, L = 108, S = 115, B = 98, Ee = 101;
    const int Ight = 258, SpaceLight = 260, SpaceBe = 262, Start = 264, Delim = 265, Extract = 266;

    static (ByteLevelBpeTokenizer Tokenizer, GptTokenFraming Framing) HandMade()
    {
        (string, string)[] merges = [("i", "g"), ("ig", "h"), ("igh", "t"), ("Ġ", "l"), ("Ġl", "ight"), ("Ġ", "b"), ("Ġb", "e")];
        var vocabulary = Enumerable.Range(0, 256).Select(b => ByteLevelAlphabet.ToChar((byte)b).ToString())
            .Concat(merges.Select(m => m.Item1 + m.Item2)).Append(ByteLevelBpeTokenizer.EndOfText).Concat(GptTaskVocabulary.Tokens).ToList();
        var tokenizer = new ByteLevelBpeTokenizer(vocabulary, merges, [ByteLevelBpeTokenizer.EndOfText, .. GptTaskVocabulary.Tokens]);
        var ids = GptTaskVocabulary.Find(tokenizer)!;
        Assert.Equal(new GptTaskTokens(Start, Delim, Extract), ids);
        return (tokenizer, new GptTokenFraming(tokenizer, ids));
    }

    [Fact]
    public void TaggingIsStartWordPiecesExtractWithTheTagOnEachWordsFirstPiece()
    {
        var (tokenizer, framing) = HandMade();
        // "light" opens the sentence (no space: l + ight); " be" and " lights" carry their space (Ġbe, Ġlight + s).
        var e = TagEncoding.Encode(framing, ["light", "be", "lights"], [3, 4, 5], 32);
        Assert.Equal([[Start, L, Ight, SpaceBe, SpaceLight, S, Extract]], e.Sequences);
        Assert.Equal([-100, 3, -100, 4, 5, -100, -100], e.TokenLabels!);
        Assert.Equal([1, 3, 4], e.WordFirstTokens!);
        Assert.Equal([[0, 0, 0, 0, 0, 0, 0]], e.TypeIds);
        Assert.Equal(tokenizer.Encode("light be lights"), e.Sequences[0][1..^1]);
        // Whole words only: "lights" does not fit in 5 tokens, so it is cut and flagged.
        var cut = TagEncoding.Encode(framing, ["light", "be", "lights"], [3, 4, 5], 5);
        Assert.Equal([[Start, L, Ight, SpaceBe, Extract]], cut.Sequences);
        Assert.Equal([1, 3, -1], cut.WordFirstTokens!);
        Assert.True(cut.Truncated);
    }

    [Fact]
    public void SpanQaIsStartQuestionDelimContextExtractWithExactOffsets()
    {
        var (_, framing) = HandMade();
        const string context = "light be lights";
        var example = new TaskExample(2, "be", context, null, "lights", AnswerStart: 9);
        var (windows, cut) = SpanEncoding.Encode(framing, example, 0, 32, 10, "t");
        var w = Assert.Single(windows);
        Assert.False(cut);
        Assert.Equal([[Start, B, Ee, Delim, L, Ight, SpaceBe, SpaceLight, S, Extract]], w.Sequences);
        Assert.All(w.TypeIds[0], t => Assert.Equal(0, t));
        var s = w.Window!;
        Assert.Equal((4, 5, 7, 8), (s.ContextFirst, s.ContextLength, s.Start, s.End));
        // " be" and " light" are read back without their leading space.
        Assert.Equal([new CharSpan(0, 1), new CharSpan(1, 5), new CharSpan(6, 8), new CharSpan(9, 14), new CharSpan(14, 15)], s.Offsets[4..9]);
        Assert.Equal("lights", context[s.Offsets[s.Start].Start..s.Offsets[s.End].End]);

        // Windows of at most 8 tokens (3 of context each, stride 2): only the second holds the whole answer.
        var (two, _) = SpanEncoding.Encode(framing, example, 7, 8, 2, "t");
        Assert.Equal([[Start, B, Ee, Delim, L, Ight, SpaceBe, Extract], [Start, B, Ee, Delim, SpaceBe, SpaceLight, S, Extract]], two.Select(x => x.Sequences[0]));
        Assert.Equal([(7, 0, 0), (7, 5, 6)], two.Select(x => (x.Window!.ExampleIndex, x.Window.Start, x.Window.End)));
    }

    [Fact]
    public void ALoneSpaceTokenAddsNoSpaceToAnAnswer()
    {
        var (_, framing) = HandMade();
        const string context = "a 10";   // no merge makes "Ġ1": the space is a token of its own, 32
        var (windows, _) = SpanEncoding.Encode(framing, new TaskExample(2, "b", context, null, null), 0, 16, 5, "t");
        var window = Assert.Single(windows);
        var w = window.Window!;
        Assert.Equal([97, 32, 49, 48], window.Sequences[0][w.ContextFirst..(w.ContextFirst + w.ContextLength)]);
        Assert.Equal(new CharSpan(1, 2), w.Offsets[w.ContextFirst + 1]);
        // Start on the space token, end on "0": the answer is "10" at 2; start and end on the space: no answer.
        var start = new float[w.Offsets.Length];
        var end = new float[w.Offsets.Length];
        start[w.ContextFirst + 1] = 10;
        end[w.ContextFirst + 3] = 10;
        var best = SpanDecoder.NBest(context, [(w, start, end)], new SpanOptions(5, 30, 20));
        Assert.Equal(("10", 2, 4), (best[0].Text, best[0].Start, best[0].End));
        Assert.All(best, a => Assert.True(a.Text.Length > 0 && a.Text.Trim() == a.Text, $"\"{a.Text}\""));
        Assert.DoesNotContain(best, a => a.Start == 1);
    }

    [Theory]
    [InlineData("héllo  wörld\n\nlight 😀 x")]
    [InlineData("  be<|start|>lights\t!")]
    [InlineData("In the beginning God created the heaven and the earth.")]
    public void ByteLevelOffsetsPointAtEachTokensCharacters(string text)
    {
        foreach (var tokenizer in new[] { HandMade().Tokenizer, ((GptTaskEncoder)FineTuneModel.FromPretrained(models.GptDir, FineTuneTask.Span, null, new HeadOptions()).Encoder).Tokenizer })
        {
            var (ids, offsets) = tokenizer.EncodeWithOffsets(text);
            Assert.Equal(tokenizer.Encode(text), ids);
            for (int t = 0; t < ids.Length; t++)
            {
                string decoded = tokenizer.Decode([ids[t]]), covered = text[offsets[t].Start..offsets[t].End];
                if (decoded.Contains('\uFFFD'))   // a piece of a multi-byte character covers that whole character
                    Assert.Single(covered.EnumerateRunes());
                else
                    Assert.Equal(decoded.Trim().Length > 0 ? decoded.Trim() : decoded, covered);
                if (t > 0) Assert.True(offsets[t].Start >= offsets[t - 1].Start, $"offsets go back at token {t}");
            }
        }
    }

    [Fact]
    public void ATokensVectorSeesOnlyItsLeftContext()
    {
        manual_seed(5);
        var config = new GptConfig { VocabSize = 40, NPositions = 16, NEmbd = 16, NLayer = 1, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 };
        var heads = new nn.Module<Tensor, Tensor>[] { new GptForTokenClassification(new GptTransformer(config), 3), new GptForQuestionAnswering(new GptTransformer(config)) };
        var ids = tensor(new long[] { 1, 5, 9, 12, 3, 7 }).unsqueeze(0);
        var changed = ids.clone();
        changed[0, 3] = 30;
        foreach (var head in heads)
        {
            head.eval();
            var (a, b) = (head.forward(ids), head.forward(changed));   // (1, 6, L)
            Assert.True(a[.., ..3].eq(b[.., ..3]).all().item<bool>(), "a token before the change must not see it");
            Assert.True(a[.., 3..].sub(b[.., 3..]).abs().amin(-1).gt(0).all().item<bool>(), "tokens from the change on see it");
        }
    }

    [Theory]
    [InlineData(FineTuneTask.Tag, "classifier", 4)]
    [InlineData(FineTuneTask.Span, "qa_outputs", 2)]
    public void SavedKeysAreHuggingFacesGpt2TokenHeads(FineTuneTask task, string head, int outputs)
    {
        var labels = task == FineTuneTask.Tag ? LabelMap.FromTraining(FineTuningTestModels.Tags()) : null;
        var ft = FineTuneModel.FromPretrained(models.GptDir, task, labels, new HeadOptions(24));
        string dir = Path.Combine(models.Root, $"keys-{task}-{Guid.NewGuid():N}");
        ft.Save(dir);
        using var file = SafeTensorsFile.Open(Path.Combine(dir, ModelFolder.WeightsFile));
        // GPT2ForTokenClassification / GPT2ForQuestionAnswering of one layer (transformers' modeling_gpt2.py).
        string[] expected =
        [
            "transformer.wte.weight", "transformer.wpe.weight",
            .. new[] { "ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj" }.SelectMany(m => new[] { $"transformer.h.0.{m}.weight", $"transformer.h.0.{m}.bias" }),
            "transformer.ln_f.weight", "transformer.ln_f.bias", head + ".weight", head + ".bias",
        ];
        Assert.Equal(expected.Order(), file.Names.Order());
        Assert.Equal([(long)outputs, 16], file.GetInfo(head + ".weight").Shape);
        Assert.Equal([(long)outputs], file.GetInfo(head + ".bias").Shape);
    }
}
