using System.Globalization;
using Ptm.Generation;

namespace Ptm.Tests.Cli;

/// <summary>`ptm generate --num-beams`: prints what the library's beam search finds, and names bad flags.</summary>
public class BeamCliTests(TinyRunFixture run) : IClassFixture<TinyRunFixture>
{
    [Fact]
    public void BeamSearchPrintsTheLibrarysHypothesesBestFirst()
    {
        string[] prompts = ["And God", "the"];
        var r = CliHarness.Run("generate", "--model", run.Run, "--prompt", prompts[0], "--prompt", prompts[1], "--max-new-tokens", "6",
            "--num-beams", "3", "--num-return-sequences", "2", "--no-repeat-ngram-size", "2", "--length-penalty", "0.5", "--early-stopping", "never");
        Assert.True(r.ExitCode == 0, r.Err + r.Out);
        using var loaded = LoadedModel.Load(run.Run);
        var found = loaded.CreateGenerator().GenerateBeams(prompts, new BeamSearchOptions
        {
            NumBeams = 3, NumReturnSequences = 2, NoRepeatNgramSize = 2, LengthPenalty = 0.5, EarlyStopping = BeamStopping.Never, MaxNewTokens = 6,
        });
        var expected = string.Join(Ptm.Cli.Commands.GenerateCommand.Separator + "\n", prompts.Select((p, i) => string.Concat(found[i].Select((h, k) =>
            $"#{k + 1} score {h.Score.ToString("F4", CultureInfo.InvariantCulture)}\n{p}{h.Text}\n"))));
        Assert.Equal(expected, r.Out);
        Assert.True(found[0][0].Score >= found[0][1].Score);
    }

    [Fact]
    public void BadBeamFlagsAreOneLineErrorsNamingTheFlag()
    {
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", run.Run, "--prompt", "And", "--num-beams", "2", "--num-return-sequences", "3"),
            "--num-return-sequences");
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", run.Run, "--prompt", "And", "--num-beams", "2", "--early-stopping", "maybe"),
            "--early-stopping");
        CliHarness.AssertOneLineError(CliHarness.Run("generate", "--model", run.Run, "--prompt", "And", "--num-return-sequences", "2"),
            "--num-return-sequences");
    }
}
