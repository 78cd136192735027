using System.Text.Json;
using System.Text.Json.Serialization;
using Ptm.IO;

namespace Ptm.Training;

/// <summary>Optimisation settings. Names follow nanoGPT's train.py where it has one.</summary>
public sealed record TrainingConfig
{
    /// <summary>Sequences per micro-batch (B).</summary>
    [JsonPropertyName("batch_size")] public int BatchSize { get; init; } = 16;
    /// <summary>Tokens per training window (T); at most the model's context length.</summary>
    [JsonPropertyName("block_size")] public int BlockSize { get; init; } = 128;
    /// <summary>Micro-batches whose gradients are summed into one optimizer step; a step sees
    /// BatchSize × GradientAccumulationSteps sequences.</summary>
    [JsonPropertyName("gradient_accumulation_steps")] public int GradientAccumulationSteps { get; init; } = 1;
    /// <summary>Optimizer steps in the run.</summary>
    [JsonPropertyName("max_steps")] public int MaxSteps { get; init; } = 1000;
    /// <summary>Peak learning rate, reached at the end of the warm-up.</summary>
    [JsonPropertyName("learning_rate")] public double LearningRate { get; init; } = 1e-3;
    /// <summary>Learning rate at the end of the cosine decay and after it; in [0, LearningRate].</summary>
    [JsonPropertyName("min_lr")] public double MinLr { get; init; } = 1e-4;
    /// <summary>Steps of linear warm-up from 0 to LearningRate.</summary>
    [JsonPropertyName("warmup_steps")] public int WarmupSteps { get; init; } = 100;
    /// <summary>Step at which the cosine reaches min_lr; null means max_steps.</summary>
    [JsonPropertyName("lr_decay_steps")] public int? LrDecaySteps { get; init; }
    /// <summary>AdamW's decoupled weight decay, applied to matrices only (not to biases and LayerNorm gains).</summary>
    [JsonPropertyName("weight_decay")] public double WeightDecay { get; init; } = 0.1;
    /// <summary>AdamW's decay rate of the first moment; in [0, 1).</summary>
    [JsonPropertyName("beta1")] public double Beta1 { get; init; } = 0.9;
    /// <summary>AdamW's decay rate of the second moment; in [0, 1).</summary>
    [JsonPropertyName("beta2")] public double Beta2 { get; init; } = 0.99;
    /// <summary>Maximum global L2 norm of the gradients; larger gradients are scaled down to it, 0 turns clipping off.</summary>
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    /// <summary>Steps between evaluations on the validation split (the last step is always evaluated).</summary>
    [JsonPropertyName("eval_interval")] public int EvalInterval { get; init; } = 250;
    /// <summary>Validation batches per evaluation.</summary>
    [JsonPropertyName("eval_iters")] public int EvalIters { get; init; } = 20;
    /// <summary>Steps between <see cref="Trainer.StepCompleted"/> reports (the first and the last are always reported).</summary>
    [JsonPropertyName("log_interval")] public int LogInterval { get; init; } = 10;
    /// <summary>Steps between checkpoints when the trainer has a run folder.</summary>
    [JsonPropertyName("checkpoint_interval")] public int CheckpointInterval { get; init; } = 250;
    /// <summary>Seed of libtorch's generator (dropout masks) and, in the recipes, of the data order.</summary>
    [JsonPropertyName("seed")] public long Seed { get; init; } = 1337;
    /// <summary>Intra-op threads for libtorch; 0 keeps libtorch's default (one per physical core).</summary>
    [JsonPropertyName("threads")] public int Threads { get; init; }

    /// <summary>"float32"; "bfloat16": matrix products in bfloat16 with float32 master weights (see MixedPrecision); or
    /// "auto": bfloat16 where the CPU has native bfloat16 dot products (CpuFeatures.HasBf16DotProduct), else float32.</summary>
    [JsonPropertyName("precision")] public string Precision { get; init; } = "float32";

    /// <summary>The products' compute type on this CPU (null: float32), as <see cref="Kernels.MixedPrecision.Resolve"/> decides.</summary>
    [JsonIgnore] public TorchSharp.torch.ScalarType? ComputeType => Kernels.MixedPrecision.Resolve(Precision, Kernels.CpuFeatures.HasBf16DotProduct).Compute;

    /// <summary>Step at which the cosine reaches MinLr: LrDecaySteps, else the larger of MaxSteps and WarmupSteps.</summary>
    [JsonIgnore] public int DecaySteps => LrDecaySteps ?? Math.Max(MaxSteps, WarmupSteps);

    /// <summary>
    /// Checks every field as library options: a value out of range is an <see cref="InvalidOptionException"/> naming
    /// <c>TrainingConfig.Property</c> (e.g. <c>TrainingConfig.MaxSteps must be a positive integer (got 0)</c>).
    /// <see cref="Trainer"/> calls it when it is constructed.
    /// </summary>
    public void Validate() => Validate(null);

    /// <summary>
    /// Checks every field. With a <paramref name="source"/> (a config file), the message names the file and the JSON
    /// field (<c>run.json: training: field 'max_steps' must be ...</c>); without one it is an
    /// <see cref="InvalidOptionException"/> naming the property.
    /// </summary>
    public void Validate(string? source)
    {
        void Require(bool ok, string field, string expected, object actual)
        {
            if (ok) return;
            if (source is not null) throw new InvalidInputException($"{source}: field '{field}' must be {expected} (got {actual})");
            throw new InvalidOptionException(nameof(TrainingConfig), PropertyOf(field), $"must be {expected}", actual);
        }
        Require(BatchSize > 0, "batch_size", "a positive integer", BatchSize);
        Require(BlockSize > 0, "block_size", "a positive integer", BlockSize);
        Require(GradientAccumulationSteps > 0, "gradient_accumulation_steps", "a positive integer", GradientAccumulationSteps);
        Require(MaxSteps > 0, "max_steps", "a positive integer", MaxSteps);
        Require(LearningRate > 0, "learning_rate", "positive", LearningRate);
        Require(MinLr >= 0 && MinLr <= LearningRate, "min_lr", "in [0, learning_rate]", MinLr);
        Require(WarmupSteps >= 0, "warmup_steps", "non-negative", WarmupSteps);
        Require(DecaySteps >= WarmupSteps, "lr_decay_steps", "at least warmup_steps", DecaySteps);
        Require(WeightDecay >= 0, "weight_decay", "non-negative", WeightDecay);
        Require(Beta1 is >= 0 and < 1, "beta1", "in [0, 1)", Beta1);
        Require(Beta2 is >= 0 and < 1, "beta2", "in [0, 1)", Beta2);
        Require(GradClip >= 0, "grad_clip", "non-negative (0 turns clipping off)", GradClip);
        Require(EvalInterval > 0, "eval_interval", "a positive integer", EvalInterval);
        Require(EvalIters > 0, "eval_iters", "a positive integer", EvalIters);
        Require(LogInterval > 0, "log_interval", "a positive integer", LogInterval);
        Require(CheckpointInterval > 0, "checkpoint_interval", "a positive integer", CheckpointInterval);
        Require(Threads >= 0, "threads", "non-negative", Threads);
        Require(Precision is "float32" or "bfloat16" or "auto", "precision", "\"float32\", \"bfloat16\" or \"auto\"", Precision);
    }

    /// <summary>The C# property that carries JSON field <paramref name="field"/> (its [JsonPropertyName]).</summary>
    static string PropertyOf(string field) =>
        typeof(TrainingConfig).GetProperties()
            .FirstOrDefault(p => p.GetCustomAttributes(typeof(JsonPropertyNameAttribute), false)
                .Cast<JsonPropertyNameAttribute>().Any(a => a.Name == field))?.Name ?? field;

    /// <summary>Reads and checks the <c>training</c> object of a config file; <paramref name="source"/> names it in
    /// messages. Fields left out keep their defaults.</summary>
    /// <exception cref="InvalidInputException">an unknown or malformed field, or a value out of range</exception>
    public static TrainingConfig FromJson(JsonElement element, string source)
    {
        var config = JsonFiles.DeserializeStrict<TrainingConfig>(element, source);
        config.Validate(source);
        return config;
    }
}
