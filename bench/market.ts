/**
 * npm run bench:market: matching 1,000 subtasks against 10,000 offers. Prints the time of the
 * batch matcher (one filter and ranking for the job's demand, then assignment by capacity) and,
 * for comparison, of matching each subtask on its own (a filter and ranking per subtask, with
 * its own exclusions), as a job whose subtasks were retried elsewhere would.
 *
 *   npm run bench:market -- [--offers 10000] [--subtasks 1000] [--seed 1]
 */
import { Command } from 'commander';
import { seededRandom } from '../core/random.js';
import { assignSubtasks, bestWithCapacity, filterOffers, scoreOffers, topOffers, type Demand, type MarketOffer } from '../core/market.js';

const o = new Command('bench:market')
  .option('--offers <n>', 'offers in the market', Number, 10_000)
  .option('--subtasks <n>', 'subtasks to place', Number, 1_000)
  .option('--seed <n>', 'random seed', Number, 1)
  .option('--rounds <n>', 'repetitions (the best is reported)', Number, 5)
  .parse()
  .opts<{ offers: number; subtasks: number; seed: number; rounds: number }>();

const rand = seededRandom(o.seed);
const GiB = 1024 ** 3;
const offers: MarketOffer[] = Array.from({ length: o.offers }, (_, i) => ({
  offer: {
    providerId: `p${String(i).padStart(5, '0')}`,
    cpus: [1, 2, 4, 8, 16][Math.floor(rand() * 5)],
    memoryBytes: [1, 2, 4, 8, 32][Math.floor(rand() * 5)] * GiB,
    diskBytes: 50 * GiB,
    gpu: rand() < 0.1 ? { model: 'RTX 3060', count: 1 } : null,
    runtimes: ['docker'],
    images: rand() < 0.1 ? ['acme/*'] : ['*'],
    pricing: { start: rand() * 0.001, cpuSecond: 0.00001 + rand() * 0.0003, envSecond: rand() * 0.0001 },
    limits: { maxConcurrentAgreements: 1 + Math.floor(rand() * 4), maxSubtaskSeconds: rand() < 0.05 ? 60 : 3600 },
    benchmark: { score: 30 + rand() * 200, seconds: 1 },
    preset: null,
  },
  online: rand() > 0.1,
  active: 0,
  reputation: 0.3 + rand() * 0.7,
  uptime: 0.5 + rand() * 0.5,
}));

const demand: Demand = {
  requestorId: 'bench',
  image: 'golemflow/compute:1',
  runtime: 'docker',
  minCpus: 2,
  minMemoryBytes: 2 * GiB,
  minDiskBytes: 0,
  gpu: { count: 0 },
  maxPrice: { cpuSecond: 0.0002 },
  minReputation: 0.4,
  allowedProviders: null,
  blockedProviders: [],
  preference: { weights: { price: 1, performance: 0.5, reputation: 0.5, uptime: 0.2 } },
  maxDurationSeconds: 600,
  estimateSeconds: 60,
};

function best(f: () => void): number {
  let min = Infinity;
  for (let r = 0; r < o.rounds; r++) {
    const t0 = performance.now();
    f();
    min = Math.min(min, performance.now() - t0);
  }
  return min / 1000;
}

const subtasks = Array.from({ length: o.subtasks }, (_, index) => ({ index }));
let placed = 0;
const batch = best(() => {
  placed = assignSubtasks(offers, demand, subtasks).filter((a) => a.providerId).length;
});
const eligible = filterOffers(offers, demand).eligible.length;
const each = best(() => {
  for (let i = 0; i < o.subtasks; i++) {
    const exclude = new Set([`p${String(i % o.offers).padStart(5, '0')}`]);
    // As proposeAgreement does: score all eligible, take the best with a free slot and the top 10 for the explanation.
    const scored = scoreOffers(filterOffers(offers, demand, exclude, 50).eligible, demand);
    bestWithCapacity(scored);
    topOffers(scored, 10);
  }
});

console.log(`offers: ${o.offers} (${eligible} eligible for the demand), subtasks: ${o.subtasks}, best of ${o.rounds}`);
console.log(`batch matching (filter + rank once, assign by capacity): ${batch.toFixed(3)} s, ${placed} placed`);
console.log(`per-subtask matching (filter + score + top 10, each):     ${each.toFixed(3)} s`);
console.log(`aim: under 1 s — ${batch < 1 ? 'met' : 'not met'} by the batch matcher, ${each < 1 ? 'met' : 'not met'} per subtask`);
