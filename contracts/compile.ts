/**
 * Compiles the project's Solidity contracts from source with solc (the npm package, standard
 * JSON input), resolving OpenZeppelin imports from node_modules. The output is cached by the
 * sources' hash (under the data directory, never committed), so a build happens once per change.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Abi, Hex } from 'viem';

const require = createRequire(import.meta.url);
export const CONTRACTS_DIR = path.dirname(fileURLToPath(import.meta.url));
const SOURCES = ['GLM.sol', 'GolemflowEscrow.sol'];

export interface CompiledContract {
  abi: Abi;
  bytecode: Hex;
}
export interface CompiledContracts {
  GLM: CompiledContract;
  GolemflowEscrow: CompiledContract;
  solcVersion: string;
  sourceHash: string;
}

interface SolcOutput {
  errors?: Array<{ severity: string; formattedMessage: string }>;
  contracts: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
}

async function readSources(): Promise<Record<string, { content: string }>> {
  const sources: Record<string, { content: string }> = {};
  for (const f of SOURCES) sources[f] = { content: await fs.readFile(path.join(CONTRACTS_DIR, f), 'utf8') };
  return sources;
}

/** Compiles (or takes from the cache) the GLM token and the escrow. */
export async function compileContracts(cacheDir: string): Promise<CompiledContracts> {
  const solc = require('solc') as { version(): string; compile(input: string, cb: { import(p: string): { contents?: string; error?: string } }): string };
  const sources = await readSources();
  const ozVersion = (require('@openzeppelin/contracts/package.json') as { version: string }).version;
  const sourceHash = createHash('sha256')
    .update(solc.version())
    .update(ozVersion)
    .update(JSON.stringify(sources))
    .digest('hex')
    .slice(0, 16);
  const cacheFile = path.join(cacheDir, `contracts-${sourceHash}.json`);
  const cached = await fs.readFile(cacheFile, 'utf8').then(JSON.parse, () => undefined);
  if (cached) return cached as CompiledContracts;

  const input = {
    language: 'Solidity',
    sources,
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'paris', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const findImports = (p: string) => {
    try {
      return { contents: require('node:fs').readFileSync(require.resolve(p), 'utf8') as string };
    } catch {
      return { error: `import not found: ${p}` };
    }
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports })) as SolcOutput;
  const errors = (out.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(`solc could not compile the contracts:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  const pick = (file: string, name: string): CompiledContract => {
    const c = out.contracts[file]?.[name];
    if (!c) throw new Error(`solc produced no ${name} from ${file}`);
    return { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}` as Hex };
  };
  const compiled: CompiledContracts = {
    GLM: pick('GLM.sol', 'GLM'),
    GolemflowEscrow: pick('GolemflowEscrow.sol', 'GolemflowEscrow'),
    solcVersion: solc.version(),
    sourceHash,
  };
  await fs.mkdir(cacheDir, { recursive: true });
  await fs.writeFile(cacheFile, JSON.stringify(compiled));
  return compiled;
}
