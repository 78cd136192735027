using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ptm.Server.Tests;

/// <summary>
/// Hostile traffic against a running server on loopback, bounded in count and time: mutated request bodies for every
/// endpoint, odd headers, slow-loris connections and a thousand connections at once. The promise: every answer is a
/// 4xx (or 429/503 by design), never another 5xx; the server keeps serving the others and answers exactly as before.
/// </summary>
[Collection("server")]
public class HostileTrafficTests(ServingFixture f)
{
    static readonly (string Path, string Body)[] Valid =
    [
        ("/v1/completions", """{"model":"gpt","prompt":"In the beginning","max_tokens":4,"temperature":0,"logprobs":1,"stop":["\n"],"n":1,"seed":3}"""),
        ("/v1/chat/completions", """{"model":"gpt","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Who said it?"}],"max_tokens":4,"temperature":0.5,"top_p":0.9}"""),
        ("/v1/embeddings", """{"model":"bert","input":["And God said","Let there be light"],"encoding_format":"float"}"""),
        ("/v1/fill-mask", """{"model":"bert","text":"Let there be [MASK].","top_k":3}"""),
        ("/v1/classify", """{"model":"classifier","input":["darkness upon the deep"]}"""),
        ("/v1/score", """{"model":"gpt","text":"And God said"}"""),
    ];

    static readonly string[] Replacements =
    [
        "null", "true", "-1", "0", "1e308", "-1e308", "99999999999999999999", "\"\"", "\"\\u0000\"", "\"\\ud800\"", "[]", "{}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "\"" + new string('x', 5000) + "\"", "[1,2,3]", "{\"a\":1}", "NaN",
        "\"gpt\"", "\"bert\"", "\"/etc/passwd\"", "\"../../gpt\"",
    ];

    /// <summary>One deterministic mutation of a valid body: a field's value replaced, a field removed or duplicated, an
    /// unknown field added, the text truncated, a byte flipped, or the whole body nested or replaced.</summary>
    static string Mutate(string body, Random rng)
    {
        var node = JsonNode.Parse(body)!.AsObject();
        var keys = node.Select(kv => kv.Key).ToList();
        switch (rng.Next(8))
        {
            case 0:
            case 1:
                return Replace(body, keys[rng.Next(keys.Count)], Replacements[rng.Next(Replacements.Length)]);
            case 2:
                node.Remove(keys[rng.Next(keys.Count)]);
                return node.ToJsonString();
            case 3:
                string key = keys[rng.Next(keys.Count)];
                return body.TrimEnd('}') + $",\"{key}\":{Replacements[rng.Next(Replacements.Length)]}}}";
            case 4:
                return body.TrimEnd('}') + $",\"unexpected_{rng.Next(100)}\":{Replacements[rng.Next(Replacements.Length)]}}}";
            case 5:
                return body[..rng.Next(body.Length)];
            case 6:
                var bytes = Encoding.UTF8.GetBytes(body);
                bytes[rng.Next(bytes.Length)] ^= (byte)(1 << rng.Next(8));
                return Encoding.UTF8.GetString(bytes);
            default:
                return rng.Next(3) switch { 0 => "[" + body + "]", 1 => "", _ => new string('[', 3000) };
        }
    }

    static string Replace(string body, string key, string value)
    {
        var node = JsonNode.Parse(body)!.AsObject();
        node.Remove(key);
        string rest = node.ToJsonString();
        return rest == "{}" ? $"{{\"{key}\":{value}}}" : $"{{\"{key}\":{value},{rest[1..]}";
    }

    static async Task<int> PostRaw(HttpClient http, string path, string body, string contentType = "application/json")
    {
        using var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var response = await http.PostAsync(path, content);
        if ((int)response.StatusCode >= 400)
        {
            // Every refusal is an OpenAI-style error object.
            string text = await response.Content.ReadAsStringAsync();
            using var doc = JsonDocument.Parse(text);
            Assert.True(doc.RootElement.GetProperty("error").TryGetProperty("message", out _), $"{path}: {text}");
        }
        return (int)response.StatusCode;
    }

    async Task ServesAsBefore()
    {
        var (status, body, _) = await f.Post("/v1/completions", new { model = "gpt", prompt = "In the beginning", max_tokens = 6, temperature = 0 });
        Assert.Equal(200, status);
        string expected = f.Reference.Generate("In the beginning", new Ptm.Generation.GenerationOptions { Temperature = 0, MaxNewTokens = 6 });
        Assert.Equal(expected, body.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task MutatedBodiesForEveryEndpointGetA4xxOrSucceedNeverA5xx()
    {
        var rng = new Random(20261207);
        var statuses = new Dictionary<int, int>();
        int sent = 0;
        foreach (var (path, body) in Valid)
            for (int i = 0; i < 60; i++)
            {
                string mutated = Mutate(body, rng);
                int status = await PostRaw(f.Http, path, mutated);
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                Assert.True(status < 500 || status is 503, $"{path} answered {status} to: {(mutated.Length > 300 ? mutated[..300] + "…" : mutated)}");
                sent++;
            }
        Assert.Equal(360, sent);
        Assert.True(statuses.Keys.Any(s => s >= 400 && s < 500), "no mutation was refused: the mutations are not hostile");
        await ServesAsBefore();
    }

    [Fact]
    public async Task OddHeadersAndMethodsGet4xx()
    {
        string body = Valid[0].Body;
        foreach (string type in new[] { "text/plain", "application/xml", "multipart/form-data; boundary=x", "application/json; charset=utf-16", "", "application/json; charset=latin-9" })
            Assert.InRange(await PostRaw(f.Http, "/v1/completions", body, type), 200, 499);
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") })
        {
            request.Headers.TryAddWithoutValidation("X-Huge", new string('a', 64 * 1024)); // past Kestrel's 32 KiB header limit
            using var response = await f.Http.SendAsync(request);
            Assert.InRange((int)response.StatusCode, 400, 499);
        }
        foreach (var method in new[] { HttpMethod.Put, HttpMethod.Delete, HttpMethod.Patch })
        {
            using var response = await f.Http.SendAsync(new HttpRequestMessage(method, "/v1/completions"));
            Assert.InRange((int)response.StatusCode, 400, 499);
        }
        using (var response = await f.Http.GetAsync("/v1/models/../../etc/passwd"))
            Assert.InRange((int)response.StatusCode, 400, 499);
        await ServesAsBefore();
    }

    /// <summary>Twenty clients that send their headers one byte at a time keep their own connections busy, not the
    /// server: requests from others complete, with the same answers.</summary>
    [Fact]
    public async Task SlowLorisConnectionsDoNotStopOtherClients()
    {
        var address = f.Server.Address;
        using var stop = new CancellationTokenSource();
        var slow = Enumerable.Range(0, 20).Select(async _ =>
        {
            using var client = new TcpClient();
            await client.ConnectAsync(address.Host, address.Port);
            var stream = client.GetStream();
            byte[] head = Encoding.ASCII.GetBytes($"POST /v1/completions HTTP/1.1\r\nHost: {address.Host}\r\nContent-Length: 100000\r\nX-Slow: ");
            try
            {
                for (int i = 0; i < head.Length + 40 && !stop.IsCancellationRequested; i++)
                {
                    await stream.WriteAsync(new[] { i < head.Length ? head[i] : (byte)'z' }, stop.Token);
                    await Task.Delay(50, stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException) { }
        }).ToList();
        for (int i = 0; i < 5; i++) await ServesAsBefore();
        using (var health = await f.Http.GetAsync("/health")) Assert.Equal(200, (int)health.StatusCode);
        stop.Cancel();
        await Task.WhenAll(slow);
    }

    /// <summary>A thousand connections at once, each sending one request: every answer is 200 (health) or 2xx/429/503
    /// (completions), the process's memory grows by a bounded amount, and the server then answers as before.</summary>
    [Fact]
    public async Task AThousandConcurrentConnectionsGetAnswersAndLeaveTheServerAsItWas()
    {
        var address = f.Server.Address;
        long before = ResidentBytes();
        var statuses = await Task.WhenAll(Enumerable.Range(0, 1000).Select(async i =>
        {
            using var client = new TcpClient();
            await client.ConnectAsync(address.Host, address.Port);
            var stream = client.GetStream();
            string request = i % 10 == 0
                ? $"POST /v1/completions HTTP/1.1\r\nHost: {address.Host}\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: {{0}}\r\n\r\n{{1}}"
                : $"GET /health HTTP/1.1\r\nHost: {address.Host}\r\nConnection: close\r\n\r\n";
            if (i % 10 == 0)
            {
                string body = """{"model":"gpt","prompt":"And God said","max_tokens":2,"temperature":0}""";
                request = string.Format(request, Encoding.UTF8.GetByteCount(body), body);
            }
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            using var reader = new StreamReader(stream);
            string? statusLine = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(2));
            return statusLine is null ? 0 : int.Parse(statusLine.Split(' ')[1]);
        }));
        Assert.All(statuses, s => Assert.True(s is 200 or 429 or 503, $"status {s}"));
        Assert.Equal(900, statuses.Count(s => s == 200) - statuses.Where((s, i) => i % 10 == 0 && s == 200).Count());
        long grown = ResidentBytes() - before;
        Assert.True(grown < 300L << 20, $"resident memory grew by {grown >> 20} MiB over 1,000 connections");
        await ServesAsBefore();
    }

    static long ResidentBytes()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }
}
