using System.CommandLine;
using System.Globalization;
using Ptm.Generation;

namespace Ptm.Cli.Commands;

/// <summary>The beam search flags of `ptm generate`, named as Hugging Face's generate() arguments.</summary>
sealed record BeamOptions(Option<int> NumBeams, Option<double> LengthPenalty, Option<int> NoRepeatNgramSize, Option<string> EarlyStopping,
    Option<int> NumReturnSequences)
{
    public static BeamOptions Create() => new(
        new Option<int>("--num-beams") { Description = "beam search with this many beams (1 = no beam search: greedy or sampling)", DefaultValueFactory = _ => 1 },
        new Option<double>("--length-penalty") { Description = "beam search: score = log-probability / length^this (> 0 favours longer outputs)", DefaultValueFactory = _ => 1.0 },
        new Option<int>("--no-repeat-ngram-size") { Description = "beam search: never repeat an n-gram of this size, prompt included (0 = off)", DefaultValueFactory = _ => 0 },
        new Option<string>("--early-stopping") { Description = "beam search stopping rule: false (heuristic), true (at num-beams ended hypotheses) or never", DefaultValueFactory = _ => "false" },
        new Option<int>("--num-return-sequences") { Description = "beam search: best hypotheses printed per prompt (at most --num-beams)", DefaultValueFactory = _ => 1 });

    public void AddTo(Command command)
    {
        command.Options.Add(NumBeams);
        command.Options.Add(LengthPenalty);
        command.Options.Add(NoRepeatNgramSize);
        command.Options.Add(EarlyStopping);
        command.Options.Add(NumReturnSequences);
    }

    /// <summary>The beam search settings, or null when --num-beams is 1 (the sampling/greedy path).</summary>
    public BeamSearchOptions? Options(ParseResult r, int maxNewTokens)
    {
        int beams = r.GetValue(NumBeams);
        if (beams < 1) throw new InvalidInputException($"--num-beams must be at least 1 (got {beams})");
        if (beams == 1)
        {
            if (r.GetValue(NumReturnSequences) != 1) throw new InvalidInputException("--num-return-sequences needs --num-beams of at least that many");
            return null;
        }
        var stopping = r.GetValue(EarlyStopping)!.ToLowerInvariant() switch
        {
            "false" => BeamStopping.Heuristic,
            "true" => BeamStopping.Early,
            "never" => BeamStopping.Never,
            var other => throw new InvalidInputException($"--early-stopping must be false, true or never (got '{other}')"),
        };
        var options = new BeamSearchOptions
        {
            NumBeams = beams, LengthPenalty = r.GetValue(LengthPenalty), NoRepeatNgramSize = r.GetValue(NoRepeatNgramSize),
            EarlyStopping = stopping, NumReturnSequences = r.GetValue(NumReturnSequences), MaxNewTokens = maxNewTokens,
        };
        options.Validate();
        return options;
    }

    /// <summary>Prints each prompt's hypotheses (prompt + continuation), best first, separated by
    /// <see cref="GenerateCommand.Separator"/>; with several per prompt each is preceded by its rank and score.</summary>
    public static int Print(TextGenerator generator, IReadOnlyList<string> prompts, int batch, BeamSearchOptions options)
    {
        for (int first = 0; first < prompts.Count; first += batch)
        {
            var chunk = prompts.Skip(first).Take(batch).ToArray();
            var found = generator.GenerateBeams(chunk, options);
            for (int i = 0; i < chunk.Length; i++)
            {
                if (first + i > 0) Console.WriteLine(GenerateCommand.Separator);
                for (int k = 0; k < found[i].Count; k++)
                {
                    if (found[i].Count > 1) Console.WriteLine($"#{k + 1} score {found[i][k].Score.ToString("F4", CultureInfo.InvariantCulture)}");
                    Console.WriteLine(chunk[i] + found[i][k].Text);
                }
            }
            Console.Out.Flush();
        }
        return 0;
    }
}
