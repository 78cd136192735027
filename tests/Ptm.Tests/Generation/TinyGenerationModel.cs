using Ptm.Modeling;
using static TorchSharp.torch;

namespace Ptm.Tests.Generation;

/// <summary>
/// The generation tests' model: 32 tokens, a 16-position context (so a few dozen new tokens slide the window), and
/// weights drawn with a large init range so that its choices are varied and decided by wide margins. Eval mode.
/// </summary>
static class TinyGenerationModel
{
    public static Gpt Create(long seed)
    {
        manual_seed(seed);
        var model = new Gpt(new GptConfig
        {
            VocabSize = 32, NPositions = 16, NEmbd = 16, NLayer = 2, NHead = 2, InitializerRange = 0.3,
            ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0,
        });
        model.eval();
        return model;
    }
}
