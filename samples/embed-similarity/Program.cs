// Ranks sentences by cosine similarity to a query, with sentence vectors from a BERT model folder.
// Usage: embed-similarity <model-folder> <query> <sentence>...
using Ptm;

using var model = LoadedModel.Load(args[0]);
string query = args.Length > 1 ? args[1] : "the light of day";
string[] sentences = args.Length > 2 ? args[2..] : ["And God called the light Day.", "And the darkness he called Night."];
foreach (var (sentence, similarity) in sentences.Select(s => (s, model.Similarity(query, s))).OrderByDescending(x => x.Item2))
    Console.WriteLine($"{similarity:R}\t{sentence}");
