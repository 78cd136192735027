using System.Text.Json;
using Ptm.Evaluation;
using Ptm.FineTuning;
using Ptm.IO;

namespace Ptm.Cli.Commands;

/// <summary>`ptm baseline --task seq2seq`: the copy and word-by-word dictionary baselines of a source/target task,
/// scored with BLEU and chrF on the validation and test files.</summary>
static class Seq2SeqBaselineCommand
{
    public static int Run(string trainPath, string? validationPath, string? testPath, string? outPath)
    {
        if (validationPath is null && testPath is null)
            throw new InvalidInputException("seq2seq baselines are scored on --validation and/or --test; give at least one");
        var train = TaskFile.ReadSeq2Seq(trainPath);
        var files = new List<(string Split, string Path, IReadOnlyList<Seq2SeqExample> Pairs)>();
        if (validationPath is not null) files.Add(("validation", validationPath, TaskFile.ReadSeq2Seq(validationPath)));
        if (testPath is not null) files.Add(("test", testPath, TaskFile.ReadSeq2Seq(testPath)));
        var translator = WordByWordTranslator.Train(train);
        Console.WriteLine($"task      seq2seq: {train.Count} train{string.Concat(files.Select(f => $", {f.Pairs.Count} {f.Split}"))} pairs (columns source, target)");
        Console.WriteLine($"dictionary {translator.Entries:N0} source words (IBM Model 1 on the training pairs, 5 EM rounds)");
        var json = new Dictionary<string, object?> { ["task"] = "seq2seq", ["train"] = trainPath, ["dictionary_entries"] = translator.Entries };
        foreach (var (split, path, pairs) in files)
        {
            var copy = Seq2SeqScore.Of(Seq2SeqBaselines.Copy(pairs), pairs);
            var words = Seq2SeqScore.Of(translator.Translate(pairs), pairs);
            Console.WriteLine($"{split,-10} copy          bleu {copy.Bleu.Score:F2}  chrf {copy.ChrF:F2}");
            Console.WriteLine($"{"",-10} word-by-word  bleu {words.Bleu.Score:F2}  chrf {words.ChrF:F2}");
            json[split] = new Dictionary<string, object?>
            {
                ["file"] = path, ["examples"] = pairs.Count,
                ["copy"] = new Dictionary<string, double> { ["bleu"] = copy.Bleu.Score, ["chrf"] = copy.ChrF },
                ["word_by_word"] = new Dictionary<string, double> { ["bleu"] = words.Bleu.Score, ["chrf"] = words.ChrF },
            };
        }
        if (outPath is not null)
        {
            AtomicFile.WriteAllText(outPath, JsonSerializer.Serialize(json, JsonFiles.Indented));
            Console.WriteLine($"metrics written to {outPath}");
        }
        return 0;
    }
}
