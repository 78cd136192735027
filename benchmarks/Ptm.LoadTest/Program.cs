using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Ptm.LoadTest;

/// <summary>
/// Load generator for a running <c>ptm serve</c>: for each client count, that many concurrent clients each send
/// streaming /v1/completions requests back to back; reports aggregate generated tokens/s, p50/p95 time to first token
/// and inter-token latency, 5xx/429 counts and the server's resident memory (from /proc, given its pid).
/// Usage: Ptm.LoadTest --url http://127.0.0.1:8131 --model kjv [--clients 1,4,16,64] [--requests 8] [--max-tokens 32]
///        [--server-pid PID] [--prompt TEXT]
/// --requests is per client; every token is generated greedily so the work per request is the same at every level.
/// </summary>
static class Program
{
    sealed record Level(int Clients, int Requests, long Tokens, double Seconds, double[] FirstToken, double[] InterToken, int ServerErrors, int Refused, long RssKb);

    public static async Task<int> Main(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        var url = new Uri(Arg("--url", "http://127.0.0.1:8131"));
        string model = Arg("--model", "kjv"), prompt = Arg("--prompt", "And God said");
        int[] levels = Arg("--clients", "1,4,16,64").Split(',').Select(int.Parse).ToArray();
        int requests = int.Parse(Arg("--requests", "8")), maxTokens = int.Parse(Arg("--max-tokens", "32"));
        int? pid = args.Contains("--server-pid") ? int.Parse(Arg("--server-pid", "0")) : null;
        using var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromMinutes(10) };
        var results = new List<Level>();
        foreach (int clients in levels)
        {
            var firstToken = new List<double>();
            var interToken = new List<double>();
            long tokens = 0;
            int errors = 0, refused = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
            {
                for (int r = 0; r < requests; r++)
                {
                    var (status, ttft, gaps, n) = await Stream(http, model, prompt, maxTokens);
                    lock (firstToken)
                    {
                        if (status >= 500) errors++;
                        else if (status == 429) refused++;
                        else { firstToken.Add(ttft); interToken.AddRange(gaps); tokens += n; }
                    }
                }
            }));
            double seconds = clock.Elapsed.TotalSeconds;
            var level = new Level(clients, clients * requests, tokens, seconds, [.. firstToken], [.. interToken], errors, refused, pid is int p ? Rss(p) : 0);
            results.Add(level);
            Console.WriteLine($"{clients,3} clients: {tokens / seconds,8:F1} tok/s aggregate, TTFT p50 {P(level.FirstToken, 50) * 1000,7:F1} ms p95 {P(level.FirstToken, 95) * 1000,7:F1} ms, " +
                $"inter-token p50 {P(level.InterToken, 50) * 1000,6:F1} ms p95 {P(level.InterToken, 95) * 1000,6:F1} ms, 5xx {errors}, 429 {refused}, server RSS {level.RssKb / 1024} MiB");
        }
        Console.WriteLine(JsonSerializer.Serialize(results.Select(l => new
        {
            clients = l.Clients, requests = l.Requests, tokens = l.Tokens, seconds = l.Seconds, tokens_per_second = l.Tokens / l.Seconds,
            ttft_p50_ms = P(l.FirstToken, 50) * 1000, ttft_p95_ms = P(l.FirstToken, 95) * 1000,
            inter_token_p50_ms = P(l.InterToken, 50) * 1000, inter_token_p95_ms = P(l.InterToken, 95) * 1000,
            server_errors = l.ServerErrors, refused = l.Refused, server_rss_kb = l.RssKb,
        })));
        return results.Any(l => l.ServerErrors > 0) ? 1 : 0;
    }

    /// <summary>One streaming request: status, seconds to the first token, gaps between tokens, tokens received.</summary>
    static async Task<(int Status, double FirstToken, List<double> Gaps, int Tokens)> Stream(HttpClient http, string model, string prompt, int maxTokens)
    {
        string body = JsonSerializer.Serialize(new { model, prompt, max_tokens = maxTokens, temperature = 0, stream = true, logprobs = 0 });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        var clock = Stopwatch.StartNew();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var gaps = new List<double>();
        if (!response.IsSuccessStatusCode) return ((int)response.StatusCode, 0, gaps, 0);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        double first = -1, last = 0;
        int tokens = 0;
        while (await reader.ReadLineAsync() is { } line)
        {
            // logprobs = 0 makes every token an event, even one that releases no text yet.
            if (!line.StartsWith("data: {", StringComparison.Ordinal) || !line.Contains("\"tokens\":[")) continue;
            double now = clock.Elapsed.TotalSeconds;
            if (first < 0) first = now; else gaps.Add(now - last);
            last = now;
            tokens++;
        }
        return (200, first, gaps, tokens);
    }

    static double P(double[] values, double percentile)
    {
        if (values.Length == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1)];
    }

    static long Rss(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])).FirstOrDefault();
}
