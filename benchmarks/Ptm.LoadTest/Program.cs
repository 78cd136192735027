using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Ptm.Generation;
using Ptm.Serving;

namespace Ptm.LoadTest;

/// <summary>
/// Load generator for <c>ptm serve</c>, over HTTP or in process.
/// <para>Levels (default): for each client count, that many concurrent clients each send <c>--requests</c> streaming
/// completions back to back; reports aggregate generated tokens/s, p50/p95 time to first token and inter-token latency,
/// 5xx/429 counts, resident memory and the server's CPU time per generated token (user + system, which the
/// machine's load changes far less than the latencies), then the ratios the serving targets are stated in: every level against the
/// single-client level run nearest before it (after it when none ran before).</para>
/// <para>RSS run (<c>--requests-total N</c>): N short requests from <c>--clients</c> concurrent clients, resident memory
/// sampled every <c>--rss-every</c> requests, and a least-squares line fitted to the samples of the second half; the run
/// counts as flat when its slope is at most <c>--rss-slope-limit</c> KiB per 1,000 requests.</para>
/// <para>HTTP: <c>--url URL --model NAME [--server-pid PID]</c> (RSS of that process, from /proc). In process:
/// <c>--in-process MODEL_DIR</c> runs a <see cref="ModelScheduler"/> in this process (RSS is this process's) and also
/// reports where the scheduler's time went (<see cref="ModelScheduler.Profile"/>), which separates the batch's own cost
/// from HTTP's. Every request is greedy with <c>logprobs: 0</c>, so every token is one event and the work per request is
/// the same at every level.</para>
/// </summary>
static class Program
{
    sealed record Result(int Status, double FirstToken, List<double> Gaps, int Tokens);

    sealed record Level(int Clients, int Requests, long Tokens, double Seconds, double[] FirstToken, double[] InterToken, int ServerErrors, int Refused, long RssKb, double CpuSeconds, string Profile)
    {
        public double TokensPerSecond => Tokens / Seconds;
    }

    public static async Task<int> Main(string[] args)
    {
        string Arg(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        string model = Arg("--model", "kjv"), prompt = Arg("--prompt", "And God said");
        int requests = int.Parse(Arg("--requests", "32")), maxTokens = int.Parse(Arg("--max-tokens", "32"));
        int warmup = int.Parse(Arg("--warmup", "4"));
        int? total = args.Contains("--requests-total") ? int.Parse(Arg("--requests-total", "0")) : null;
        string? inProcess = args.Contains("--in-process") ? Arg("--in-process", "") : null;
        int? pid = args.Contains("--server-pid") ? int.Parse(Arg("--server-pid", "0")) : inProcess is not null ? Environment.ProcessId : null;

        if (args.Contains("--step-cost"))
        {
            if (args.Contains("--threads")) TorchSharp.torch.set_num_threads(int.Parse(Arg("--threads", "0")));
            StepCost(Arg("--step-cost", ""), int.Parse(Arg("--repeats", "200")));
            return 0;
        }
        using var http = new HttpClient { BaseAddress = new Uri(Arg("--url", "http://127.0.0.1:8131")), Timeout = TimeSpan.FromMinutes(10) };
        LoadedModel? loaded = null;
        ModelScheduler? scheduler = null;
        if (inProcess is not null)
        {
            if (args.Contains("--threads")) TorchSharp.torch.set_num_threads(int.Parse(Arg("--threads", "0")));
            loaded = LoadedModel.Load(inProcess);
            scheduler = new ModelScheduler(loaded, new SchedulerOptions
            {
                MaxBatchSize = int.Parse(Arg("--max-batch-size", "16")),
                MaxQueueLength = int.Parse(Arg("--max-queue", "64")),
                FeedPromptsUpTo = int.Parse(Arg("--feed-prompts-up-to", "16")),
            });
        }
        Func<int, Task<Result>> send = scheduler is not null
            ? n => InProcess(scheduler, prompt, n)
            : n => Http(http, model, prompt, n);
        Console.WriteLine($"# {(scheduler is not null ? "in process: " + inProcess : "http: " + http.BaseAddress + " model " + model)}, " +
            $"{Environment.ProcessorCount} cpus, load average {LoadAverage()}, GC {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}");
        try
        {
            for (int i = 0; i < warmup; i++) await send(maxTokens);
            if (total is int n) return await RssRun(send, n, int.Parse(Arg("--clients", "16")), int.Parse(Arg("--max-tokens", "8")),
                int.Parse(Arg("--rss-every", "100")), double.Parse(Arg("--rss-slope-limit", "256")), pid);
            int[] levels = Arg("--clients", "1,4,16,64").Split(',').Select(int.Parse).ToArray();
            return await Levels(send, levels, requests, maxTokens, pid, scheduler);
        }
        finally
        {
            scheduler?.Dispose();
            loaded?.Dispose();
        }
    }

    static async Task<int> Levels(Func<int, Task<Result>> send, int[] levels, int requests, int maxTokens, int? pid, ModelScheduler? scheduler)
    {
        var results = new List<Level>();
        foreach (int clients in levels)
        {
            var firstToken = new List<double>();
            var interToken = new List<double>();
            long tokens = 0;
            int errors = 0, refused = 0;
            double cpuBefore = pid is int q ? CpuSeconds(q) : 0;
            object? before = scheduler is not null ? TryProfile(scheduler) : null;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
            {
                for (int r = 0; r < requests; r++)
                {
                    var result = await send(maxTokens);
                    lock (firstToken)
                    {
                        if (result.Status >= 500) errors++;
                        else if (result.Status == 429) refused++;
                        else { firstToken.Add(result.FirstToken); interToken.AddRange(result.Gaps); tokens += result.Tokens; }
                    }
                }
            }));
            double seconds = clock.Elapsed.TotalSeconds;
            string profile = before is not null ? Profile(before, TryProfile(scheduler!)!) : "";
            var level = new Level(clients, clients * requests, tokens, seconds, [.. firstToken], [.. interToken], errors, refused, pid is int p ? Rss(p) : 0,
                pid is int p2 ? CpuSeconds(p2) - cpuBefore : 0, profile);
            results.Add(level);
            Console.WriteLine($"{clients,3} clients: {level.TokensPerSecond,8:F1} tok/s aggregate, TTFT p50 {P(level.FirstToken, 50) * 1000,7:F1} ms p95 {P(level.FirstToken, 95) * 1000,7:F1} ms, " +
                $"inter-token p50 {P(level.InterToken, 50) * 1000,6:F1} ms p95 {P(level.InterToken, 95) * 1000,6:F1} ms, 5xx {errors}, 429 {refused}, RSS {level.RssKb / 1024} MiB, " +
                $"CPU {level.CpuSeconds * 1000 / Math.Max(1, tokens):F2} ms/token, load {LoadAverage()}");
            if (profile.Length > 0) Console.WriteLine("             " + profile);
        }
        for (int i = 0; i < results.Count; i++)
        {
            if (results[i].Clients == 1) continue;
            int single = Enumerable.Range(0, i).Reverse().Concat(Enumerable.Range(i + 1, results.Count - i - 1)).FirstOrDefault(j => results[j].Clients == 1, -1);
            if (single < 0) continue;
            var (many, one) = (results[i], results[single]);
            double throughput = many.TokensPerSecond / one.TokensPerSecond;
            double latency = P(many.InterToken, 95) / P(one.InterToken, 95);
            string targets = many.Clients == 16
                ? $" (targets: >= 4x {(throughput >= 4 ? "met" : "NOT met")}; <= 3x {(latency <= 3 ? "met" : "NOT met")})" : "";
            Console.WriteLine($"ratio: level {i + 1} ({many.Clients} clients) vs level {single + 1} (1 client): aggregate tok/s {throughput:F2}x, inter-token p95 {latency:F2}x{targets}");
        }
        Console.WriteLine(JsonSerializer.Serialize(results.Select(l => new
        {
            clients = l.Clients, requests = l.Requests, tokens = l.Tokens, seconds = l.Seconds, tokens_per_second = l.TokensPerSecond,
            ttft_p50_ms = P(l.FirstToken, 50) * 1000, ttft_p95_ms = P(l.FirstToken, 95) * 1000,
            inter_token_p50_ms = P(l.InterToken, 50) * 1000, inter_token_p95_ms = P(l.InterToken, 95) * 1000,
            server_errors = l.ServerErrors, refused = l.Refused, rss_kb = l.RssKb, cpu_ms_per_token = l.CpuSeconds * 1000 / Math.Max(1, l.Tokens),
        })));
        return results.Any(l => l.ServerErrors > 0) ? 1 : 0;
    }

    /// <summary>The 10,000-request memory run: resident memory every <paramref name="every"/> requests, and the slope of
    /// a least-squares line through the second half's samples.</summary>
    static async Task<int> RssRun(Func<int, Task<Result>> send, int total, int clients, int maxTokens, int every, double limitKibPer1000, int? pid)
    {
        if (pid is not int p) throw new ArgumentException("the RSS run needs --server-pid (or --in-process)");
        var samples = new List<(int Requests, long RssKb)> { (0, Rss(p)) };
        int started = 0, done = 0, errors = 0, refused = 0;
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (Interlocked.Increment(ref started) <= total)
            {
                var result = await send(maxTokens);
                lock (samples)
                {
                    if (result.Status >= 500) errors++;
                    else if (result.Status == 429) refused++;
                    tokens += result.Tokens;
                    if (++done % every == 0)
                    {
                        samples.Add((done, Rss(p)));
                        if (done % (every * 10) == 0)
                            Console.WriteLine($"{done,6} requests: RSS {samples[^1].RssKb / 1024.0,7:F1} MiB, {tokens / clock.Elapsed.TotalSeconds:F0} tok/s, load {LoadAverage()}");
                    }
                }
            }
        }));
        var half = samples.Where(s => s.Requests > total / 2).ToArray();
        double mx = half.Average(s => (double)s.Requests), my = half.Average(s => (double)s.RssKb);
        double slope = half.Sum(s => (s.Requests - mx) * (s.RssKb - my)) / half.Sum(s => (s.Requests - mx) * (s.Requests - mx)) * 1000;   // KiB per 1,000 requests
        bool flat = slope <= limitKibPer1000;
        Console.WriteLine($"RSS: start {samples[0].RssKb / 1024.0:F1} MiB, at half {half[0].RssKb / 1024.0:F1} MiB, end {samples[^1].RssKb / 1024.0:F1} MiB, " +
            $"peak {samples.Max(s => s.RssKb) / 1024.0:F1} MiB over {done} requests ({clients} clients, {maxTokens} tokens each, {clock.Elapsed.TotalSeconds:F0} s)");
        Console.WriteLine($"RSS slope over the second half: {slope:F1} KiB per 1,000 requests (limit {limitKibPer1000} KiB): {(flat ? "flat" : "GROWING")}; 5xx {errors}, 429 {refused}");
        Console.WriteLine(JsonSerializer.Serialize(new { requests = done, clients, max_tokens = maxTokens, slope_kib_per_1000 = slope, limit_kib_per_1000 = limitKibPer1000, flat, server_errors = errors, refused, samples = samples.Select(s => new[] { s.Requests, s.RssKb }) }));
        return errors > 0 || !flat ? 1 : 0;
    }

    /// <summary>One streaming HTTP request: status, seconds to the first token, gaps between tokens, tokens received.</summary>
    static async Task<Result> Http(HttpClient http, string model, string prompt, int maxTokens)
    {
        string body = JsonSerializer.Serialize(new { model, prompt, max_tokens = maxTokens, temperature = 0, stream = true, logprobs = 0 });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        var clock = Stopwatch.StartNew();
        var gaps = new List<double>();
        HttpResponseMessage response;
        try { response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead); }
        catch (HttpRequestException) { return new Result(599, 0, gaps, 0); }   // counted with the 5xx: the server failed us
        using (response)
        {
            if (!response.IsSuccessStatusCode) return new Result((int)response.StatusCode, 0, gaps, 0);
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
            return new Result(200, first, gaps, tokens);
        }
    }

    /// <summary>One request straight to the scheduler, timed the same way (429 when its queue is full).</summary>
    static async Task<Result> InProcess(ModelScheduler scheduler, string prompt, int maxTokens)
    {
        var clock = Stopwatch.StartNew();
        var gaps = new List<double>();
        var request = new CompletionRequest { Prompt = prompt, Options = new GenerationOptions { Temperature = 0, MaxNewTokens = maxTokens }, LogProbs = 0 };
        if (!scheduler.TrySubmit(request, default, out var stream)) return new Result(429, 0, gaps, 0);
        double first = -1, last = 0;
        int tokens = 0;
        await foreach (var _ in stream.ReadAllAsync())
        {
            double now = clock.Elapsed.TotalSeconds;
            if (first < 0) first = now; else gaps.Add(now - last);
            last = now;
            tokens++;
        }
        return new Result(200, first, gaps, tokens);
    }

    static object? TryProfile(ModelScheduler s) { try { return ProfileOf(s); } catch (MissingMethodException) { return null; } }
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static object ProfileOf(ModelScheduler s) => s.Profile;

    static string Profile(object x, object y)
    {
        var (a, b) = ((SchedulerProfile)x, (SchedulerProfile)y);
        long steps = b.DecodeSteps - a.DecodeSteps;
        double Ms(double seconds) => steps == 0 ? 0 : seconds * 1000 / steps;
        return $"scheduler per step ({steps} steps): decode {Ms(b.DecodeSeconds - a.DecodeSeconds):F2} ms, choose {Ms(b.ChooseSeconds - a.ChooseSeconds):F2}, " +
            $"prefill {Ms(b.PrefillSeconds - a.PrefillSeconds):F2}, place {Ms(b.PlaceSeconds - a.PlaceSeconds):F2}, shift {Ms(b.ShiftSeconds - a.ShiftSeconds):F2}, " +
            $"emit {Ms(b.EmitSeconds - a.EmitSeconds):F2}; {b.Prefills - a.Prefills} prefills of {b.PrefilledRows - a.PrefilledRows} rows, {b.FedRows - a.FedRows} prompts fed, {b.Shifts - a.Shifts} shifts";
    }

    /// <summary>The cost of one batched decode step (a forward pass over one new token per row, with the key mask and
    /// position ids a serving batch passes, and an argmax) at 1, 4 and 16 rows, each with libtorch's products and with
    /// the serving batch's (<see cref="Ptm.Kernels.TransposedWeights"/>), interleaved so the machine's load falls on every
    /// case alike; min, p25 and p50 in ms, and each size's p50 over the lone row's of the same kind.</summary>
    static void StepCost(string dir, int repeats)
    {
        using var loaded = LoadedModel.Load(dir);
        var gpt = loaded.Gpt ?? throw new ArgumentException($"{dir} is not a GPT");
        int[] sizes = [1, 2, 4, 8, 12, 16];
        string[] kinds = ["libtorch", "transposed"];
        const int Prefix = 32;
        var cases = kinds.SelectMany(k => sizes.Select(b => (Kind: k, Rows: b))).ToArray();
        var caches = cases.ToDictionary(c => c, c => gpt.NewCache(c.Rows));
        var times = cases.ToDictionary(c => c, _ => new List<double>());
        using var transposed = new Ptm.Kernels.TransposedWeights();
        for (int r = 0; r < repeats; r++)
            foreach (var c in cases)
            {
                var (cache, b) = (caches[c], c.Rows);
                using var scope = TorchSharp.torch.NewDisposeScope();
                using var mode = TorchSharp.torch.inference_mode();
                using var products = c.Kind == "transposed" ? transposed.Use() : null;
                if (cache.Length == 0 || cache.Length >= gpt.Config.NPositions - 1)
                {
                    cache.Reset();
                    gpt.NextTokenLogits(TorchSharp.torch.zeros(b, Prefix, TorchSharp.torch.ScalarType.Int64), cache);
                }
                var input = TorchSharp.torch.zeros(b, 1, TorchSharp.torch.ScalarType.Int64);
                var positions = TorchSharp.torch.full(b, 1, (long)cache.Length, TorchSharp.torch.ScalarType.Int64);
                var keyMask = TorchSharp.torch.ones(b, cache.Length + 1, TorchSharp.torch.ScalarType.Bool);
                long t0 = Stopwatch.GetTimestamp();
                _ = gpt.NextTokenLogits(input, cache, positions, keyMask).argmax(-1).data<long>().ToArray();
                times[c].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
        Console.WriteLine($"# decode step cost, {dir}, {TorchSharp.torch.get_num_threads()} torch threads, {repeats} repeats, load average {LoadAverage()}");
        foreach (string kind in kinds)
        {
            double lone = P([.. times[(kind, 1)]], 50);
            foreach (int b in sizes)
            {
                double[] t = [.. times[(kind, b)]];
                Console.WriteLine($"{kind,-10} {b,3} rows: min {t.Min():F2} ms, p25 {P(t, 25):F2}, p50 {P(t, 50):F2} ({P(t, 50) / lone:F2}x one row, min {t.Min() / times[(kind, 1)].Min():F2}x)");
            }
        }
        foreach (var c in caches.Values) c.Dispose();
    }

    static double P(double[] values, double percentile)
    {
        if (values.Length == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1)];
    }

    static long Rss(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:")).Select(l => long.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1])).FirstOrDefault();

    /// <summary>User plus system CPU seconds the process has used (from /proc; clock ticks of 1/100 s): work done,
    /// which the machine's load changes far less than wall time.</summary>
    static double CpuSeconds(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12])) / 100.0;   // utime, stime: fields 14 and 15 of stat
    }

    static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
}
