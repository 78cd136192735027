using System.Diagnostics.Metrics;

namespace Ptm.Server;

/// <summary>
/// The server's instruments (exported at <c>/metrics</c> in Prometheus text): requests by endpoint and status,
/// generated tokens (tokens/s is its rate), time to first token, and per model the queue length, running requests
/// and decode steps.
/// </summary>
sealed class ServingMetrics
{
    readonly Counter<long> requests;
    readonly Counter<long> tokens;
    readonly Histogram<double> firstToken;

    public ServingMetrics(Meter meter, IReadOnlyDictionary<string, ServedModel> models)
    {
        requests = meter.CreateCounter<long>("ptm.requests", description: "HTTP requests answered, by endpoint and status");
        tokens = meter.CreateCounter<long>("ptm.generated_tokens", description: "tokens generated");
        firstToken = meter.CreateHistogram<double>("ptm.time_to_first_token", "s", "from a generation request's arrival to its first token",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        meter.CreateObservableGauge("ptm.queue_length", () => models.Values.Select(m =>
            new Measurement<int>(m.Scheduler.QueueLength, new KeyValuePair<string, object?>("model", m.Name))), description: "requests waiting for a decode row");
        meter.CreateObservableGauge("ptm.active_requests", () => models.Values.Select(m =>
            new Measurement<int>(m.Scheduler.ActiveRequests, new KeyValuePair<string, object?>("model", m.Name))), description: "requests being decoded");
        meter.CreateObservableCounter("ptm.decode_steps", () => models.Values.Select(m =>
            new Measurement<long>(m.Scheduler.DecodeSteps, new KeyValuePair<string, object?>("model", m.Name))), description: "decode steps (one forward pass for the whole batch)");
    }

    public void Answered(string endpoint, int status) =>
        requests.Add(1, new KeyValuePair<string, object?>("endpoint", endpoint), new KeyValuePair<string, object?>("status", status));

    public void Refused(int status) => requests.Add(1, new KeyValuePair<string, object?>("endpoint", "refused"), new KeyValuePair<string, object?>("status", status));

    public void Generated(string model, int count) => tokens.Add(count, new KeyValuePair<string, object?>("model", model));

    public void FirstToken(string model, TimeSpan elapsed) => firstToken.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("model", model));
}
