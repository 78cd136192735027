// Pre-trains a tiny GPT on an in-memory text for a few steps, prints the losses and a generated line.
using Ptm.Generation;
using Ptm.Modeling;
using Ptm.Training;

string text = string.Join("\n\n", Enumerable.Repeat(
    "In the beginning God created the heaven and the earth.\nAnd God said, Let there be light: and there was light.\n" +
    "And God saw the light, that it was good.\nAnd the evening and the morning were the first day.", 12));

var options = new GptPretrainingOptions
{
    Model = new GptConfig { NPositions = 32, NEmbd = 32, NLayer = 2, NHead = 2, ResidPdrop = 0, EmbdPdrop = 0, AttnPdrop = 0 },
    Tokenizer = new TokenizerSpec { Kind = "char" },
    Training = new TrainingConfig { MaxSteps = 40, BatchSize = 8, BlockSize = 32, LearningRate = 1e-2, MinLr = 1e-3, WarmupSteps = 4, EvalInterval = 20, EvalIters = 2, Seed = 1 },
};
using var run = Pretraining.Gpt(PretrainingCorpus.FromText(text), options);
run.Trainer.StepCompleted += r => Console.WriteLine($"step {r.Step,2}  loss {r.Loss:F4}");
var result = run.Train();
Console.WriteLine($"validation loss {result.LastEval!.Loss:F4}");

var generator = new TextGenerator(run.Model, run.Tokenizer);
var sample = generator.Generate("And God", new GenerationOptions { MaxNewTokens = 40, Temperature = 0.8, TopK = 10, Seed = 1 });
Console.WriteLine("And God" + string.Concat(sample));
