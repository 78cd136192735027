// Pre-trains a tiny BERT for a few steps, then fine-tunes it as a classifier on in-memory examples.
using Ptm.FineTuning;
using Ptm.Modeling;
using Ptm.Training;

string[] light = ["let there be light", "the light was good", "god saw the light", "the day was bright"];
string[] dark = ["the darkness he called night", "night fell on the earth", "darkness was upon the deep", "the night was dark"];
(string, string)[] examples = [.. Enumerable.Range(0, 3).SelectMany(_ => light.Select(t => (t, "light")).Concat(dark.Select(t => (t, "dark"))))];
string corpus = string.Join("\n\n", examples.Select(e => e.Item1 + ".\nand it was so."));

string folder = Path.Combine(Path.GetTempPath(), "ptm-sample-" + Guid.NewGuid().ToString("N"));
using (var pretraining = Pretraining.Bert(PretrainingCorpus.FromText(corpus), new BertPretrainingOptions
{
    Model = new BertConfig { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 64, MaxPositionEmbeddings = 32 },
    Tokenizer = new TokenizerSpec { Kind = "wordpiece", VocabSize = 80 },
    Data = new BertDataSpec { MaxSeqLength = 32, DupeFactor = 2, MaxPredictionsPerSeq = 4 },
    Training = new TrainingConfig { MaxSteps = 10, BatchSize = 8, LearningRate = 1e-3, WarmupSteps = 2, EvalIters = 1, Seed = 1 },
}, new RunFolder(folder)))
    pretraining.Train();

var tuner = new FineTuner(folder, FineTuneTask.Classify, new FineTuningOptions { Epochs = 8, BatchSize = 8, LearningRate = 5e-3, Seed = 1 });
var result = tuner.Run(TaskData.Classification(examples));
using var model = result.Model;   // the fine-tuned model is the caller's to dispose
Console.WriteLine($"best validation {result.Metric} {result.Best:F3} at step {result.BestStep}");

var test = TaskData.Classification([("the light was bright", "light"), ("the night fell", "dark")]);
foreach (var (example, p) in test.Examples.Zip(model.Predict(model.Encode(test, requireLabels: true))))
    Console.WriteLine($"{example.Text} -> {model.Labels!.Labels[p.Class]} ({p.Probabilities[p.Class]:P0})");
Directory.Delete(folder, recursive: true);
