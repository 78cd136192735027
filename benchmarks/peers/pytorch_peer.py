#!/usr/bin/env python3
"""PyTorch (eager, fp32, CPU) peer of Ptm's throughput harness.

Builds the same GPT-2 architecture as src/Ptm/Modeling (pre-LN blocks, tanh GELU, tied LM head, GPT-2
initialisation) and times the same cases as benchmarks/Ptm.Benchmarks/Throughput:

  matmul            torch.mm of two n x n matrices, fp32 and bf16
  train:bert        BERT pre-training (post-LN, exact GELU, MLM head only at the masked positions, NSP head),
                    when a BERT config is given
  train:bert-base   the same step for the BERT-base shape at sequence length 128 (batch 4, 20 masked positions)
  train:<name>      zero_grad, forward, summed cross-entropy / target count, backward, clip_grad_norm_, AdamW step
                    (decay on parameters with dim >= 2, none on biases and LayerNorm weights)
                    (train:<name>-bf16: the forward under torch.autocast("cpu", bfloat16), the loss on float32 logits)
  generate          greedy batch-1 generation with and without a preallocated KV cache
  generate:<name>   the same for a batch of equal-length prompts (generate:batch8)
  generate:memory   10,000 cached tokens, resident memory read every 1,000

Every case runs in a child process of its own (this script with --case), so each peak RSS belongs to one case.
Prints one JSON object on stdout (progress goes to stderr).

Usage:
  /usr/bin/python3 benchmarks/peers/pytorch_peer.py --threads 2 [--config configs/gpt-kjv.json] [--quick]
  /usr/bin/python3 benchmarks/peers/pytorch_peer.py --threads 2 --plan plan.json   # plan written by the .NET harness

Debian's python3-torch links the reference libblas.so.3; run it with
LD_PRELOAD=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset
(the .NET harness does this; see benchmarks/README.md). The "blas" field says which BLAS was really loaded and which
OpenBLAS core it runs, "cpu_capability" which instruction set ATen dispatches to (the harness's --cpu-isa avx2 sets
OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2).
"""

import argparse
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"


# ----------------------------------------------------------------------------------------------- plan

# Untimed steps before the cases whose step takes a fraction of a second (the harness's ThroughputPlan.ShortStepWarmup;
# the harness passes its own plan, this copy is for running the script alone).
SHORT_STEP_WARMUP = 65


def standard_plan(config_path, quick, bert_config_path=None):
    """The same cases as ThroughputPlan.Standard in the .NET harness."""
    with open(config_path, encoding="utf-8") as f:
        run = json.load(f)
    model = dict(run.get("model", {}))
    model.setdefault("vocab_size", run.get("tokenizer", {}).get("vocab_size", 50257))
    training = dict(run.get("training", {}))
    seed = training.get("seed", 1337)
    gpt2 = {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12,
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}
    gpt2_training = dict(training, batch_size=1 if quick else 2, block_size=128 if quick else 256)
    bert = None
    if bert_config_path is not None and os.path.exists(bert_config_path):
        with open(bert_config_path, encoding="utf-8") as f:
            bert_run = json.load(f)
        bert_model = dict(bert_run.get("model", {}))
        bert_model.setdefault("vocab_size", bert_run.get("tokenizer", {}).get("vocab_size", 30522))
        data = bert_run.get("data", {})
        bert = {"name": "bert", "model": bert_model, "training": bert_run.get("training", {}),
                "seq_len": data.get("max_seq_length", 128), "max_predictions": data.get("max_predictions_per_seq", 20),
                "warmup_steps": 1 if quick else SHORT_STEP_WARMUP, "timed_steps": 2 if quick else 8,
                "seed": bert_run.get("training", {}).get("seed", 1337)}
        # BertThroughput.BaseFromConfig: bert-base-uncased's shape (bert_config's defaults), the config's optimizer.
        bert_base = {"name": "bert-base", "model": {}, "training": dict(bert_run.get("training", {}), batch_size=1 if quick else 4),
                     "seq_len": 128, "max_predictions": 20, "warmup_steps": 1, "timed_steps": 1 if quick else 3,
                     "seed": bert_run.get("training", {}).get("seed", 1337)}
    else:
        bert_base = None
    return {
        "quick": quick,
        "bert": bert,
        "bert_base": bert_base,
        "matmul": {"size": 2048, "fp32_repetitions": 3 if quick else 8, "bf16_repetitions": 2 if quick else 5, "warmup": 1},
        "training": [
            {"name": "default", "model": model, "training": training,
             "warmup_steps": 1 if quick else SHORT_STEP_WARMUP, "timed_steps": 2 if quick else 8, "seed": seed},
            {"name": "gpt2-small", "model": gpt2, "training": gpt2_training,
             "warmup_steps": 1 if quick else 2, "timed_steps": 1 if quick else 3, "seed": seed},
            {"name": "default-bf16", "model": model, "training": dict(training, precision="bfloat16"),
             "warmup_steps": 1 if quick else SHORT_STEP_WARMUP, "timed_steps": 2 if quick else 8, "seed": seed},
            {"name": "gpt2-small-bf16", "model": gpt2, "training": dict(gpt2_training, precision="bfloat16"),
             "warmup_steps": 1 if quick else 2, "timed_steps": 1 if quick else 3, "seed": seed},
        ],
        "generation": {"name": "default", "model": model, "prompt_tokens": 16, "new_tokens": 64 if quick else 256,
                       "warmup_tokens": 8, "repetitions": 1 if quick else 3, "seed": seed},
        "batched_generation": {"name": "batch8", "model": model, "prompt_tokens": 16, "new_tokens": 64 if quick else 256,
                               "warmup_tokens": 8, "repetitions": 1 if quick else 2, "seed": seed, "batch": 8},
        "generation_memory": {"name": "memory", "model": model, "prompt_tokens": 16, "new_tokens": 2000 if quick else 10000,
                              "sample_every": 200 if quick else 1000, "seed": seed},
    }


def model_config(m):
    """GptConfig's defaults (Hugging Face's GPT-2 small) under the given overrides."""
    c = {"vocab_size": 50257, "n_positions": 1024, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_inner": None,
         "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1, "layer_norm_epsilon": 1e-5,
         "initializer_range": 0.02, "pre_layer_norm": True}
    c.update({k: v for k, v in m.items() if k in c})
    if c["n_inner"] is None:
        c["n_inner"] = 4 * c["n_embd"]
    return c


def training_config(t):
    c = {"batch_size": 16, "block_size": 128, "learning_rate": 1e-3, "weight_decay": 0.1, "beta1": 0.9,
         "beta2": 0.99, "grad_clip": 1.0, "precision": "float32"}
    c.update({k: v for k, v in t.items() if k in c})
    return c


# ----------------------------------------------------------------------------------------------- model

def build_model_classes(torch):
    nn = torch.nn
    F = torch.nn.functional
    has_sdpa = hasattr(F, "scaled_dot_product_attention")

    class KvCache:
        """Keys and values per layer, preallocated to the context: (B, nh, capacity, hs), filled left to right."""

        def __init__(self, n_layer, batch, n_head, capacity, head_size):
            self.capacity = capacity
            self.length = 0
            self.keys = [torch.zeros(batch, n_head, capacity, head_size) for _ in range(n_layer)]
            self.values = [torch.zeros(batch, n_head, capacity, head_size) for _ in range(n_layer)]

        def append(self, layer, k, v):
            t = k.shape[2]
            if self.length + t > self.capacity:
                raise RuntimeError("KV cache is full")
            self.keys[layer][:, :, self.length:self.length + t].copy_(k)
            self.values[layer][:, :, self.length:self.length + t].copy_(v)
            end = self.length + t
            return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def attend(q, k, v, mask, causal, dropout):
        if has_sdpa:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=causal)
        # torch < 2.0 (Debian 12 ships 1.13): the explicit product, as nanoGPT's slow path.
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
        tq, tk = q.shape[2], k.shape[2]
        if causal:
            mask = torch.ones(tq, tk, dtype=torch.bool).tril(tk - tq)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        w = F.softmax(scores, dim=-1)
        if dropout > 0:
            w = F.dropout(w, dropout)
        return w @ v

    class CausalSelfAttention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.n_head, self.n_embd, self.attn_pdrop = c["n_head"], c["n_embd"], c["attn_pdrop"]
            self.c_attn = nn.Linear(self.n_embd, 3 * self.n_embd)
            self.c_proj = nn.Linear(self.n_embd, self.n_embd)
            self.resid_dropout = nn.Dropout(c["resid_pdrop"])

        def forward(self, x, cache=None, layer=0):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
            mask, causal = None, True
            if cache is not None:
                past = cache.length
                k, v = cache.append(layer, k, v)
                if past > 0:
                    causal = False
                    if T > 1:  # query i sits at past + i and sees keys 0..past + i
                        mask = torch.ones(T, past + T, dtype=torch.bool).tril(past)
            y = attend(q, k, v, mask, causal, self.attn_pdrop if self.training else 0.0)
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class Mlp(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c_fc = nn.Linear(c["n_embd"], c["n_inner"])
            self.c_proj = nn.Linear(c["n_inner"], c["n_embd"])
            self.dropout = nn.Dropout(c["resid_pdrop"])

        def forward(self, x):
            return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.ln_1 = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])
            self.attn = CausalSelfAttention(c)
            self.ln_2 = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])
            self.mlp = Mlp(c)
            self.pre = c["pre_layer_norm"]

        def forward(self, x, cache=None, layer=0):
            if self.pre:
                x = x + self.attn(self.ln_1(x), cache, layer)
                return x + self.mlp(self.ln_2(x))
            x = self.ln_1(x + self.attn(x, cache, layer))
            return self.ln_2(x + self.mlp(x))

    class Gpt(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.config = c
            self.transformer = nn.ModuleDict(dict(
                wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
                wpe=nn.Embedding(c["n_positions"], c["n_embd"]),
                drop=nn.Dropout(c["embd_pdrop"]),
                h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
                ln_f=nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"]) if c["pre_layer_norm"] else nn.Identity(),
            ))
            self._init_weights()

        def _init_weights(self):
            std = self.config["initializer_range"]
            residual_std = std / math.sqrt(2.0 * self.config["n_layer"])
            with torch.no_grad():
                for name, p in self.named_parameters():
                    if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                        p.fill_(1.0)
                    elif name.endswith(".bias"):
                        p.zero_()
                    elif name.endswith(("attn.c_proj.weight", "mlp.c_proj.weight")):
                        p.normal_(0.0, residual_std)
                    else:
                        p.normal_(0.0, std)

        def new_cache(self, batch):
            c = self.config
            return KvCache(c["n_layer"], batch, c["n_head"], c["n_positions"], c["n_embd"] // c["n_head"])

        def forward(self, idx, cache=None, last_only=False):
            tr = self.transformer
            T = idx.shape[1]
            past = cache.length if cache is not None else 0
            pos = torch.arange(past, past + T, dtype=torch.long)
            x = tr.drop(tr.wte(idx) + tr.wpe(pos))
            for i, block in enumerate(tr.h):
                x = block(x, cache, i)
            x = tr.ln_f(x)
            if cache is not None:
                cache.length += T
            if last_only:  # decoding needs the next token's logits only, as Ptm's Gpt.NextTokenLogits
                x = x[:, -1]
            return F.linear(x, tr.wte.weight)  # tied LM head

    class BertResidualOutput(nn.Module):
        def __init__(self, c, inner):
            super().__init__()
            self.dense = nn.Linear(inner, c["hidden_size"])
            self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
            self.dropout = nn.Dropout(c["hidden_dropout_prob"])

        def forward(self, hidden, residual):
            return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)

    def bert_gelu(c, x):
        return F.gelu(x) if c["hidden_act"] == "gelu" else F.gelu(x, approximate="tanh")

    class BertLayer(nn.Module):
        """Post-LN encoder layer: LN(x + attn(x)), then LN(a + W2 gelu(W1 a))."""

        def __init__(self, c):
            super().__init__()
            H = c["hidden_size"]
            self.c, self.heads, self.attn_drop = c, c["num_attention_heads"], c["attention_probs_dropout_prob"]
            self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
            self.attention_output = BertResidualOutput(c, H)
            self.intermediate = nn.Linear(H, c["intermediate_size"])
            self.output = BertResidualOutput(c, c["intermediate_size"])

        def forward(self, x, keep):
            B, T, H = x.shape
            q, k, v = (lin(x).view(B, T, self.heads, H // self.heads).transpose(1, 2) for lin in (self.query, self.key, self.value))
            y = attend(q, k, v, keep, False, self.attn_drop if self.training else 0.0).transpose(1, 2).contiguous().view(B, T, H)
            a = self.attention_output(y, x)
            return self.output(bert_gelu(self.c, self.intermediate(a)), a)

    class BertForPreTraining(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c
            E, H, V = c["embedding_size"] or c["hidden_size"], c["hidden_size"], c["vocab_size"]
            self.word_embeddings = nn.Embedding(V, E)
            self.position_embeddings = nn.Embedding(c["max_position_embeddings"], E)
            self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], E)
            self.emb_LayerNorm = nn.LayerNorm(E, eps=c["layer_norm_eps"])
            self.emb_dropout = nn.Dropout(c["hidden_dropout_prob"])
            self.mapping_in = nn.Linear(E, H) if E != H else None
            self.layers = nn.ModuleList([BertLayer(c) for _ in range(1 if c["share_layers"] else c["num_hidden_layers"])])
            self.pooler = nn.Linear(H, H)
            self.transform = nn.Linear(H, E)
            self.transform_LayerNorm = nn.LayerNorm(E, eps=c["layer_norm_eps"])
            self.decoder_bias = nn.Parameter(torch.zeros(V))
            self.seq_relationship = nn.Linear(H, 2)
            with torch.no_grad():
                for name, p in self.named_parameters():
                    if name.endswith("LayerNorm.weight"):
                        p.fill_(1.0)
                    elif name.endswith("bias"):
                        p.zero_()
                    else:
                        p.normal_(0.0, c["initializer_range"])
                self.word_embeddings.weight[c["pad_token_id"]].zero_()

        def forward_masked(self, ids, types, attention_mask, labels):
            """MLM logits only at positions whose label is not -100 (N, V), their labels (N), NSP logits (B, 2)."""
            T = ids.shape[1]
            x = self.word_embeddings(ids) + self.position_embeddings(torch.arange(T)) + self.token_type_embeddings(types)
            x = self.emb_dropout(self.emb_LayerNorm(x))
            if self.mapping_in is not None:
                x = self.mapping_in(x)
            keep = attention_mask.bool()[:, None, None, :]
            for i in range(self.c["num_hidden_layers"]):
                x = self.layers[0 if len(self.layers) == 1 else i](x, keep)
            pooled = torch.tanh(self.pooler(x[:, 0]))
            flat = labels.view(-1)
            chosen = flat.ne(-100).nonzero().squeeze(1)
            hidden = x.reshape(-1, x.shape[-1]).index_select(0, chosen)
            h = self.transform_LayerNorm(bert_gelu(self.c, self.transform(hidden)))
            mlm = F.linear(h, self.word_embeddings.weight, self.decoder_bias)
            return mlm, flat.index_select(0, chosen), self.seq_relationship(pooled)

    return Gpt, BertForPreTraining, has_sdpa


def bert_config(m):
    """BertConfig's defaults (Hugging Face's bert-base-uncased) under the given overrides."""
    c = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
         "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
         "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
         "layer_norm_eps": 1e-12, "initializer_range": 0.02, "pad_token_id": 0, "embedding_size": None,
         "share_layers": False}
    c.update({k: v for k, v in m.items() if k in c})
    return c


def measure_bert_training(torch, Bert, case):
    """As Ptm's BertThroughput: full sequences, P masked positions per row, one pair label per row."""
    m, t = bert_config(case["model"]), training_config(case["training"])
    torch.manual_seed(case.get("seed", 1337))
    model = Bert(m)
    model.train()
    opt = adamw(torch, model, t)
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(case.get("seed", 1337))
    B, T, P = t["batch_size"], case["seq_len"], case["max_predictions"]
    F = torch.nn.functional
    timed, last_loss = [], float("nan")
    for step in range(case["warmup_steps"] + case["timed_steps"]):
        ids = torch.randint(0, m["vocab_size"], (B, T), generator=gen)
        types = torch.cat([torch.zeros(B, T // 2, dtype=torch.long), torch.ones(B, T - T // 2, dtype=torch.long)], 1)
        mask = torch.ones(B, T, dtype=torch.long)
        positions = torch.rand(B, T - 1, generator=gen).argsort(1)[:, :P] + 1
        labels = torch.full((B, T), -100, dtype=torch.long).scatter_(1, positions, torch.randint(0, m["vocab_size"], (B, P), generator=gen))
        pair_labels = torch.randint(0, 2, (B,), generator=gen)
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)  # as Ptm's FusedAdamW.zero_grad: release, do not zero
        masked = int(labels.ne(-100).sum().item())
        mlm, chosen, nsp = model.forward_masked(ids, types, mask, labels)
        loss = (F.cross_entropy(mlm, chosen, ignore_index=-100, reduction="sum") / max(1, masked)
                + F.cross_entropy(nsp, pair_labels, ignore_index=-100, reduction="sum") / B)
        loss.backward()
        last_loss = loss.item()
        if t["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, t["grad_clip"])
        opt.step()
        elapsed = time.perf_counter() - start
        if step >= case["warmup_steps"]:
            timed.append(elapsed)
    return {
        "name": case["name"], "n_layer": m["num_hidden_layers"], "n_embd": m["hidden_size"], "n_head": m["num_attention_heads"],
        "vocab_size": m["vocab_size"], "n_positions": m["max_position_embeddings"], "batch_size": B, "block_size": T,
        "warmup_steps": case["warmup_steps"], "timed_steps": case["timed_steps"], "step_seconds": timed,
        "median_step_seconds": statistics.median(timed), "tokens_per_second": B * T * len(timed) / sum(timed),
        "final_loss": last_loss, "parameter_count": sum(p.numel() for p in params), "precision": t["precision"],
    }


# ----------------------------------------------------------------------------------------------- cases

def adamw(torch, model, t):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": t["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=t["learning_rate"], betas=(t["beta1"], t["beta2"]), eps=1e-8)


def measure_training(torch, Gpt, case):
    m, t = model_config(case["model"]), training_config(case["training"])
    if t["block_size"] > m["n_positions"]:
        raise ValueError("block size exceeds n_positions")
    torch.manual_seed(case.get("seed", 1337))
    model = Gpt(m)
    model.train()
    opt = adamw(torch, model, t)
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(case.get("seed", 1337))
    warmup, timed_steps = case["warmup_steps"], case["timed_steps"]
    B, T = t["batch_size"], t["block_size"]
    if t["precision"] not in ("float32", "bfloat16"):
        raise ValueError(f"training precision: expected float32 or bfloat16, got {t['precision']}")
    bf16 = t["precision"] == "bfloat16"
    timed, last_loss = [], float("nan")
    for step in range(warmup + timed_steps):
        window = torch.randint(0, m["vocab_size"], (B, T + 1), generator=gen)
        x, y = window[:, :T].contiguous(), window[:, 1:].contiguous()
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)  # as Ptm's FusedAdamW.zero_grad: release, do not zero
        n_targets = int(y.ne(-100).sum().item())
        # bfloat16: autocast's CPU recipe (products in bf16, float32 weights); the loss on float32 logits, as Ptm's
        # LM head hands back float32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        logits = logits.float()
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1),
                                                 ignore_index=-100, reduction="sum") / n_targets
        loss.backward()
        last_loss = loss.item()
        if t["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(params, t["grad_clip"])
        opt.step()
        elapsed = time.perf_counter() - start
        if step >= warmup:
            timed.append(elapsed)
    return {
        "name": case["name"], "n_layer": m["n_layer"], "n_embd": m["n_embd"], "n_head": m["n_head"],
        "vocab_size": m["vocab_size"], "n_positions": m["n_positions"], "batch_size": B, "block_size": T,
        "warmup_steps": warmup, "timed_steps": timed_steps, "step_seconds": timed,
        "median_step_seconds": statistics.median(timed), "tokens_per_second": B * T * len(timed) / sum(timed),
        "final_loss": last_loss, "parameter_count": sum(p.numel() for p in params), "precision": t["precision"],
    }


def generate(torch, model, prompts, new_tokens, use_cache, on_token=None):
    """Greedy decoding of equal-length prompts as Ptm's TextGenerator: the last position's logits only, the chosen
    ids fed back as a tensor, and the cache, when full, refilled with the last half context."""
    context = model.config["n_positions"]
    histories = [list(p) for p in prompts]
    cache = model.new_cache(len(prompts)) if use_cache else None
    start = fed = 0
    first = None
    pending = None
    t0 = time.perf_counter()
    with torch.inference_mode():
        for n in range(new_tokens):
            length = len(histories[0])
            if cache is not None:
                if pending is None or length - start > context:
                    cache.length = 0
                    start = fed = max(0, length - context // 2) if pending is not None else 0
                    logits = model(torch.tensor([h[fed:] for h in histories], dtype=torch.long), cache, last_only=True)
                else:
                    logits = model(pending, cache, last_only=True)
            else:
                logits = model(torch.tensor([h[-context:] for h in histories], dtype=torch.long), last_only=True)
            chosen = logits.argmax(-1)
            pending = chosen.view(-1, 1)
            for h, i in zip(histories, chosen.tolist()):
                h.append(i)
            if first is None:
                first = time.perf_counter() - t0
            if on_token is not None:
                on_token(n + 1)
    return time.perf_counter() - t0, first


def seeded_model_and_prompts(torch, Gpt, case, batch):
    """The case's model in eval mode (seeded weights) and `batch` random prompts from the same seed."""
    m = model_config(case["model"])
    torch.manual_seed(case.get("seed", 1337))
    model = Gpt(m)
    model.eval()
    rng = random.Random(case.get("seed", 1337))
    prompts = [[rng.randrange(m["vocab_size"]) for _ in range(case["prompt_tokens"])] for _ in range(batch)]
    return m, model, prompts


def measure_generation(torch, Gpt, case):
    batch = case.get("batch", 1)
    m, model, prompts = seeded_model_and_prompts(torch, Gpt, case, batch)
    best = {}
    for rep in range(case.get("repetitions", 3)):
        for use_cache in (True, False):
            if rep == 0 and case.get("warmup_tokens", 8) > 0:
                generate(torch, model, prompts, case.get("warmup_tokens", 8), use_cache)
            n = case["new_tokens"]
            total, first = generate(torch, model, prompts, n, use_cache)
            r = {"name": case["name"], "use_cache": use_cache, "prompt_tokens": case["prompt_tokens"], "new_tokens": n,
                 "n_positions": m["n_positions"], "repetitions": case.get("repetitions", 3), "total_seconds": total,
                 "tokens_per_second": batch * n / total, "batch": batch,
                 "decode_tokens_per_second": batch * (n - 1) / max(1e-12, total - first) if n > 1 else 0.0,
                 "time_to_first_token_ms": first * 1000}
            if use_cache not in best or total < best[use_cache]["total_seconds"]:
                best[use_cache] = r
    return [best[True], best[False]]


def rss_mib():
    """VmRSS of this process from /proc/self/status, in MiB."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def rss_slope_per_1000(samples):
    """Least-squares slope of RSS (MiB) against tokens, per 1000 tokens (as Ptm's GenerationSuite.SlopePer1000)."""
    if len(samples) < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / len(samples)
    my = sum(r for _, r in samples) / len(samples)
    sxx = sum((t - mx) ** 2 for t, _ in samples)
    return sum((t - mx) * (r - my) for t, r in samples) / sxx * 1000 if sxx > 0 else 0.0


def measure_generation_memory(torch, Gpt, case):
    """Greedy cached generation of case["new_tokens"] tokens, VmRSS every case["sample_every"] tokens."""
    _, model, prompts = seeded_model_and_prompts(torch, Gpt, case, 1)
    every, samples = case["sample_every"], []

    def on_token(n):
        if n % every == 0:
            samples.append((n, rss_mib()))

    total, _ = generate(torch, model, prompts, case["new_tokens"], True, on_token)
    rss = [r for _, r in samples]
    return {"name": case["name"], "new_tokens": case["new_tokens"], "sample_every": every,
            "samples": [{"tokens": t, "rss_mib": r} for t, r in samples], "first_mib": rss[0], "last_mib": rss[-1],
            "max_mib": max(rss), "slope_mib_per1000_tokens": rss_slope_per_1000(samples),
            "tokens_per_second": case["new_tokens"] / total}


def measure_matmul(torch, size, dtype, warmup, repetitions):
    torch.manual_seed(0)
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    for _ in range(warmup):
        torch.mm(a, b)
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    flops = 2.0 * size ** 3
    best, median = min(times), statistics.median(times)
    return {"dtype": {torch.float32: "fp32", torch.bfloat16: "bf16"}[dtype], "size": size, "repetitions": repetitions,
            "best_seconds": best, "median_seconds": median, "best_gflops": flops / best / 1e9,
            "median_gflops": flops / median / 1e9}


# ----------------------------------------------------------------------------------------------- process

def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # ru_maxrss is KiB on Linux


def loaded_blas():
    """Which BLAS libraries this process mapped (the honest answer to 'did LD_PRELOAD work')."""
    libs = set()
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if "blas" in name or "lapack" in name:
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    info = {"libraries": sorted(libs), "openblas": any("openblas" in p for p in libs), "core": openblas_core(libs)}
    try:
        from threadpoolctl import threadpool_info
        info["threadpoolctl"] = [{k: d.get(k) for k in ("internal_api", "threading_layer", "num_threads", "version", "architecture", "filepath")}
                                 for d in threadpool_info() if d.get("user_api") == "blas"]
    except Exception:  # threadpoolctl is optional
        info["threadpoolctl"] = None
    return info


def openblas_core(libs):
    """The kernel set OpenBLAS picked at load (openblas_get_corename: "Haswell", "SkylakeX", "Cooperlake", ...): Debian
    builds it for every x86-64 core, so this is what OPENBLAS_CORETYPE, or the CPU, chose. None without OpenBLAS."""
    import ctypes
    for path in sorted(libs):
        if "openblas" not in path:
            continue
        try:
            get = ctypes.CDLL(path).openblas_get_corename
        except (OSError, AttributeError):
            continue
        get.restype = ctypes.c_char_p
        name = get()
        if name:
            return name.decode("ascii", "replace")
    return None


def cpu_capability(torch):
    """The vector instruction set ATen's kernels dispatch to ("AVX2", "AVX512", "DEFAULT"), which ATEN_CPU_CAPABILITY
    can lower. torch 2.x names it directly; 1.13 prints it in torch.__config__.show()."""
    get = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    if get is not None:
        return str(get()).upper()
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return None


def bert_cases(plan):
    """ThroughputPlan.BertCases: the configured BERT, then the BERT-base shape, each when present."""
    return [b for b in (plan.get("bert"), plan.get("bert_base")) if b is not None]


def run_case(torch, plan, name):
    Gpt, Bert, has_sdpa = build_model_classes(torch)
    result = {"case": name, "matmul": [], "training": [], "generation": []}
    if name == "matmul":
        mm = plan["matmul"]
        result["matmul"].append(measure_matmul(torch, mm["size"], torch.float32, mm.get("warmup", 1), mm["fp32_repetitions"]))
        try:
            result["matmul"].append(measure_matmul(torch, mm["size"], torch.bfloat16, mm.get("warmup", 1), mm["bf16_repetitions"]))
        except RuntimeError as e:
            # torch 1.13 sends bf16 products to oneDNN when the CPU reports AVX-512; held to AVX2
            # (ONEDNN_MAX_CPU_ISA=AVX2) oneDNN has no bf16 product and refuses. The fp32 figure stands.
            result["note"] = f"no bf16 product: {e}"
    elif name == "generate":
        result["generation"] = measure_generation(torch, Gpt, plan["generation"])
    elif plan.get("batched_generation") and name == "generate:" + plan["batched_generation"]["name"]:
        result["generation"] = measure_generation(torch, Gpt, plan["batched_generation"])
    elif plan.get("generation_memory") and name == "generate:memory":
        result["generation_memory"] = measure_generation_memory(torch, Gpt, plan["generation_memory"])
    elif name.startswith("train:"):
        wanted = name[len("train:"):]
        bert = next((b for b in bert_cases(plan) if b["name"] == wanted), None)
        if bert is not None:
            result["training"].append(measure_bert_training(torch, Bert, bert))
        else:
            case = next(c for c in plan["training"] if c["name"] == wanted)
            result["training"].append(measure_training(torch, Gpt, case))
    else:
        raise ValueError(f"unknown case {name}")
    peak = peak_rss_mib()
    for group in ("matmul", "training", "generation"):
        for r in result[group]:
            r["peak_rss_mib"] = peak
    if "generation_memory" in result:
        result["generation_memory"]["peak_rss_mib"] = peak
    result["peak_rss_mib"] = peak
    result["sdpa"] = has_sdpa
    # What this child really ran, for the paired rounds, which start one child per case and read nothing else.
    result["blas"] = loaded_blas()
    result["cpu_capability"] = cpu_capability(torch)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--config", default=os.path.join(os.path.dirname(__file__), "..", "..", "configs", "gpt-kjv.json"))
    ap.add_argument("--bert-config", default=os.path.join(os.path.dirname(__file__), "..", "..", "configs", "bert-kjv.json"),
                    help="BERT run config for the train:bert case (skipped when the file does not exist)")
    ap.add_argument("--plan", help="JSON plan written by the .NET harness (overrides --config/--quick)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--case", help="internal: run one case in this process and print its JSON")
    ap.add_argument("--out", help="also write the JSON here")
    args = ap.parse_args()

    try:
        import torch
    except Exception as e:  # python3-torch missing
        print(json.dumps({"available": False, "reason": f"cannot import torch: {e}"}))
        return 0
    torch.set_num_threads(args.threads)
    if args.plan:
        with open(args.plan, encoding="utf-8") as f:
            plan = json.load(f)
    else:
        plan = standard_plan(args.config, args.quick, args.bert_config)

    if args.case:
        print(json.dumps(run_case(torch, plan, args.case)))
        return 0

    blas = loaded_blas()
    names = ["matmul"] + ["train:" + c["name"] for c in plan["training"]] + ["train:" + b["name"] for b in bert_cases(plan)]
    names.append("generate")
    if plan.get("batched_generation"):
        names.append("generate:" + plan["batched_generation"]["name"])
    if plan.get("generation_memory"):
        names.append("generate:memory")
    report = {"available": True, "reason": None, "peer": "pytorch-eager", "torch_version": torch.__version__,
              "python": platform.python_version(), "threads": torch.get_num_threads(),
              "sdpa": hasattr(torch.nn.functional, "scaled_dot_product_attention"), "blas": blas,
              "cpu_capability": cpu_capability(torch),
              "env": {k: os.environ.get(k) for k in ("LD_PRELOAD", "OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                     "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")},
              "quick": bool(plan.get("quick", False)), "cases": [], "matmul": [], "training": [], "generation": [],
              "generation_memory": None}
    plan_path = args.plan
    if plan_path is None:  # children read the same plan
        import tempfile
        fd, plan_path = tempfile.mkstemp(suffix=".json", prefix="ptm-peer-plan-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(plan, f)
    try:
        for name in names:
            print(f"pytorch peer: running {name} ...", file=sys.stderr, flush=True)
            cmd = [sys.executable, os.path.abspath(__file__), "--threads", str(args.threads), "--plan", plan_path, "--case", name]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if p.returncode != 0:
                report["cases"].append({"case": name, "error": f"exit code {p.returncode}"})
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            report["cases"].append({"case": name, "peak_rss_mib": r["peak_rss_mib"], "note": r.get("note")})
            for group in ("matmul", "training", "generation"):
                report[group].extend(r[group])
            if r.get("generation_memory") is not None:
                report["generation_memory"] = r["generation_memory"]
            print(f"  done: {name}, peak RSS {r['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
    finally:
        if args.plan is None:
            os.unlink(plan_path)
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
