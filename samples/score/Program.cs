// Scores a text under a GPT: every token's log-probability, then the total and the perplexity.
// Usage: score <model-folder> [text]
using Ptm;

string text = args.Length > 1 ? args[1] : "In the beginning God created the heaven and the earth.";
using var model = LoadedModel.Load(args[0]);
var score = model.Score(text);
foreach (var token in score.TokenLogProbabilities)
    Console.WriteLine($"{token.LogProbability,10:F4}  {token.Text}");
Console.WriteLine($"total {score.TotalLogProbability:R} nats over {score.Tokens} tokens; perplexity {score.Perplexity:F2}");
