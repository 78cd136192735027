using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Tests.Library;

/// <summary>Every task head, of either family, answers through ITaskHead with the scores its own forward gives.</summary>
public class TaskHeadInterfaceTests
{
    static readonly BertConfig Bert = new() { VocabSize = 40, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32, MaxPositionEmbeddings = 16 };
    static readonly GptConfig Gpt = new() { VocabSize = 40, NPositions = 16, NEmbd = 16, NLayer = 1, NHead = 2 };

    static TaskHeadInputs Inputs(long b, long k, long t)
    {
        manual_seed(1);
        return new TaskHeadInputs(randint(1, 40, [b, k, t]), zeros([b, k, t], ScalarType.Int64), ones([b, k, t], ScalarType.Int64),
            full([b, k], t - 1, ScalarType.Int64));
    }

    public static TheoryData<string> Heads() => ["bert-seq", "bert-choice", "bert-tag", "bert-qa", "gpt-seq", "gpt-choice", "gpt-tag", "gpt-qa"];

    static (nn.Module Module, Func<TaskHeadInputs, Tensor> Direct, long K) Make(string name) => name switch
    {
        "bert-seq" => With(new BertForSequenceClassification(new BertModel(Bert), 3), (m, x) => m.forward(new BertInputs(x.InputIds[.., 0], x.TokenTypeIds[.., 0], x.AttentionMask[.., 0])), 1),
        "bert-choice" => With(new BertForMultipleChoice(new BertModel(Bert)), (m, x) => m.forward(new BertInputs(x.InputIds, x.TokenTypeIds, x.AttentionMask)), 3),
        "bert-tag" => With(new BertForTokenClassification(new BertModel(Bert), 4), (m, x) => m.forward(new BertInputs(x.InputIds[.., 0], x.TokenTypeIds[.., 0], x.AttentionMask[.., 0])), 1),
        "bert-qa" => With(new BertForQuestionAnswering(new BertModel(Bert)), (m, x) => m.forward(new BertInputs(x.InputIds[.., 0], x.TokenTypeIds[.., 0], x.AttentionMask[.., 0])), 1),
        "gpt-seq" => With(new GptForSequenceClassification(new GptTransformer(Gpt), 3), (m, x) => m.Forward(x.InputIds, x.LastIndex, false).Logits, 1),
        "gpt-choice" => With(new GptForMultipleChoice(new GptTransformer(Gpt)), (m, x) => m.Forward(x.InputIds, x.LastIndex, false).Logits, 3),
        "gpt-tag" => With(new GptForTokenClassification(new GptTransformer(Gpt), 4), (m, x) => m.forward(x.InputIds[.., 0]), 1),
        _ => With(new GptForQuestionAnswering(new GptTransformer(Gpt)), (m, x) => m.forward(x.InputIds[.., 0]), 1),
    };

    static (nn.Module, Func<TaskHeadInputs, Tensor>, long) With<T>(T module, Func<T, TaskHeadInputs, Tensor> direct, long k) where T : nn.Module
    {
        module.eval();
        return (module, x => direct(module, x), k);
    }

    [Theory]
    [MemberData(nameof(Heads))]
    public void ForwardThroughTheInterfaceEqualsTheHeadsOwnForward(string name)
    {
        var (module, direct, k) = Make(name);
        using var _ = module;
        var head = Assert.IsAssignableFrom<ITaskHead>(module);
        Assert.Equal(name.StartsWith("gpt") ? ModelFamily.Gpt2 : ModelFamily.Bert, head.Family);
        var inputs = Inputs(2, k, 6);
        using var g = no_grad();
        var (scores, lm) = head.Forward(inputs, withLm: false);
        Assert.Null(lm);
        Assert.True(scores.allclose(direct(inputs), rtol: 0, atol: 0));
        var (_, withLm) = head.Forward(inputs, withLm: true);
        Assert.Equal(name.StartsWith("gpt"), withLm is not null);
    }
}
