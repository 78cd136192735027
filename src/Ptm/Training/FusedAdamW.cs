using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Ptm.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter 2019) whose update runs in libtorch's fused CPU kernel, <c>aten::_fused_adamw_</c>:
/// one vectorised, multi-threaded pass per parameter over param, grad, exp_avg and exp_avg_sq. TorchSharp's managed
/// step makes nine passes per parameter and keeps two parameter-sized temporaries (the denominator) alive until the
/// whole step ends; on GPT-2 small that was about 0.6 CPU-seconds per step against 0.1 fused (docs/performance.md).
/// TorchSharp does not expose the kernel, so a one-line TorchScript function calls it.
/// The optimizer state is TorchSharp's own <see cref="AdamW.State"/> (step count, exp_avg, exp_avg_sq), so
/// checkpoints, <see cref="OptimizerFactory.SetLearningRate"/> and the parameter groups behave exactly as before;
/// amsgrad, maximize, non-contiguous or mixed-type parameters take TorchSharp's step instead. <see cref="zero_grad"/>
/// releases gradients rather than zeroing them.
/// </summary>
internal sealed class FusedAdamW : AdamW
{
    // aten::_fused_adamw_ reads the step from a float tensor per parameter and computes the bias corrections in
    // double, as TorchSharp's step does (1 - beta^step); the caller has already counted this step.
    // TorchScript's parser wants the script to end with a newline (hence the empty last line).
    const string Script = """
        def adamw(params: List[Tensor], grads: List[Tensor], exp_avgs: List[Tensor], exp_avg_sqs: List[Tensor], steps: List[Tensor], lr: float, beta1: float, beta2: float, weight_decay: float, eps: float):
            torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, [], steps, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False)

        """;

    static readonly Lazy<jit.CompilationUnit> Kernel = new(() => jit.compile(Script));

    /// <summary>AdamW over <paramref name="groups"/>; the other arguments are the defaults of groups that do not set
    /// their own, as for TorchSharp's <c>optim.AdamW</c>.</summary>
    public FusedAdamW(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay)
        : base(groups, lr, beta1, beta2, eps, weightDecay)
    {
    }

    /// <summary>
    /// Releases the gradients instead of filling them with zeros (PyTorch's <c>set_to_none=True</c>, its default
    /// since 2.0): the next backward then hands its gradient buffers over instead of adding them into zeroed ones,
    /// which saves a fill and an add pass over every parameter. Parameters that get no gradient keep none, and
    /// both this step and clip_grad_norm_ skip them.
    /// </summary>
    public override void zero_grad()
    {
        foreach (var group in _parameter_groups)
            foreach (var p in group.Parameters)
                p.grad = null;
    }

    /// <summary>One AdamW update of every parameter with a gradient: in the fused kernel, or in TorchSharp's step for the
    /// cases above. Returns the closure's loss (null without a closure).</summary>
    public override Tensor step(Func<Tensor>? closure = null)
    {
        var groups = _parameter_groups.Select(g => (Group: g, Options: (Options)g.Options)).ToList();
        if (groups.Any(g => g.Options.amsgrad == true || g.Options.maximize == true)) return base.step(closure!);

        Tensor? loss = null;
        if (closure is not null)
        {
            using var _ = enable_grad();
            loss = closure();
        }
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var batches = new List<(Options Options, Tensor[] Params, Tensor[] Grads, State[] States)>();
        foreach (var (group, options) in groups)
        {
            var withGrad = group.Parameters.Select(p => (Param: (Tensor)p, Grad: p.grad)).Where(x => x.Grad is not null).ToArray();
            if (withGrad.Length == 0) continue;
            var states = withGrad.Select(x => (State)_state[x.Param.Handle]).ToArray();
            if (!Fusable(withGrad, states))
            {
                base.step();   // the closure, if any, has run already
                return loss!;
            }
            batches.Add((options, withGrad.Select(x => x.Param).ToArray(), withGrad.Select(x => x.Grad!).ToArray(), states));
        }
        foreach (var (options, parameters, grads, states) in batches)
        {
            foreach (var s in states) s.step += 1;
            var steps = states.Select(s => tensor((float)s.step)).ToArray();
            // Scalars we hold until the call returns. Given a double, TorchSharp makes a temporary Scalar and passes only
            // its native handle; nothing keeps the wrapper alive, so a collection during the call finalizes it and frees
            // the value the kernel is reading (seen as "Scalar::toLong" failures, once after 1,460 pretraining steps).
            using Scalar lr = options.LearningRate!.Value, beta1 = options.beta1!.Value, beta2 = options.beta2!.Value,
                weightDecay = options.weight_decay!.Value, eps = options.eps!.Value;
            Kernel.Value.invoke("adamw", parameters, grads, states.Select(s => s.exp_avg).ToArray(), states.Select(s => s.exp_avg_sq).ToArray(),
                steps, lr, beta1, beta2, weightDecay, eps);
        }
        return loss!;
    }

    /// <summary>The kernel wants one dtype and device per list and dense, contiguous tensors.</summary>
    static bool Fusable((Tensor Param, Tensor? Grad)[] items, State[] states)
    {
        var first = items[0].Param;
        return items.Zip(states).All(x =>
            x.First.Param.dtype == first.dtype && x.First.Param.device_type == first.device_type
            && x.First.Param.device_index == first.device_index && x.First.Param.is_contiguous()
            && x.First.Grad!.dtype == first.dtype && x.First.Grad.is_contiguous()
            && x.Second.exp_avg.is_contiguous() && x.Second.exp_avg_sq.is_contiguous());
    }
}
