/**
 * The escrow's rules, on the real chain (Anvil), with the contracts compiled from source:
 * lock, release once per payment id, never beyond the locked amount, only by the requestor or
 * its payer, and the remainder back to the requestor at the end or, by anyone, after the deadline.
 */
import os from 'node:os';
import path from 'node:path';
import { createPublicClient, createTestClient, createWalletClient, http, keccak256, stringToHex, type Address } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { compileContracts, type CompiledContracts } from '../../contracts/compile.js';
import { ANVIL_MNEMONIC } from '../../infra/anvil.js';
import { glmToWei } from '../../core/payments.js';

const rpc = () => inject('chainRpcUrl');
const account = (i: number) => mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: i });
const id = (s: string) => keccak256(stringToHex(`${s}-${Math.random()}`));

describe('the escrow contract', () => {
  let c: CompiledContracts;
  let pub: ReturnType<typeof createPublicClient>;
  let token: Address;
  let escrow: Address;
  const requestor = account(17);
  const payer = account(18);
  const provider = account(19).address;
  const stranger = account(16);

  const wallet = (a: ReturnType<typeof account>) => createWalletClient({ account: a, transport: http(rpc()) });
  async function write(a: ReturnType<typeof account>, address: Address, abi: CompiledContracts['GLM']['abi'], functionName: string, args: unknown[]): Promise<void> {
    const hash = await wallet(a).writeContract({ address, abi, functionName, args, chain: null } as never);
    const r = await pub.waitForTransactionReceipt({ hash });
    expect(r.status).toBe('success');
  }
  /** The revert's error name, as a user would see it. */
  async function refusal(a: ReturnType<typeof account>, functionName: string, args: unknown[]): Promise<string> {
    try {
      await pub.simulateContract({ account: a, address: escrow, abi: c.GolemflowEscrow.abi, functionName, args } as never);
    } catch (e) {
      return String((e as Error).message);
    }
    return 'accepted';
  }
  const balance = (who: Address) => pub.readContract({ address: token, abi: c.GLM.abi, functionName: 'balanceOf', args: [who] }) as Promise<bigint>;

  beforeAll(async () => {
    c = await compileContracts(path.join(os.tmpdir(), 'golemflow-contracts'));
    pub = createPublicClient({ transport: http(rpc()) });
    const deploy = async (name: 'GLM' | 'GolemflowEscrow', args: unknown[]) => {
      const hash = await wallet(requestor).deployContract({ abi: c[name].abi, bytecode: c[name].bytecode, args, chain: null } as never);
      return (await pub.waitForTransactionReceipt({ hash })).contractAddress!;
    };
    token = await deploy('GLM', []);
    escrow = await deploy('GolemflowEscrow', [token]);
    await write(requestor, token, c.GLM.abi, 'mint', [requestor.address, glmToWei('1000')]);
    await write(requestor, token, c.GLM.abi, 'approve', [escrow, glmToWei('1000')]);
  });

  const deadline = () => BigInt(Math.floor(Date.now() / 1000) + 3600);

  it('releases once per payment id and never beyond what is locked', async () => {
    const alloc = id('a');
    const before = await balance(provider);
    await write(requestor, escrow, c.GolemflowEscrow.abi, 'lock', [alloc, glmToWei('10'), deadline(), payer.address]);
    const p1 = id('p1');
    await write(requestor, escrow, c.GolemflowEscrow.abi, 'release', [alloc, [p1], [provider], [glmToWei('4')]]);
    expect((await balance(provider)) - before).toBe(glmToWei('4'));
    expect(await refusal(requestor, 'release', [alloc, [p1], [provider], [glmToWei('1')]])).toMatch(/AlreadyPaid/);
    expect(await refusal(requestor, 'release', [alloc, [id('p2')], [provider], [glmToWei('7')]])).toMatch(/OverBudget/);
    // Two payments in one transaction, by the payer the requestor named.
    await write(payer, escrow, c.GolemflowEscrow.abi, 'release', [alloc, [id('p3'), id('p4')], [provider, provider], [glmToWei('3'), glmToWei('3')]]);
    expect((await balance(provider)) - before).toBe(glmToWei('10'));
    // A batch holding one id twice is refused as a whole.
    const dup = id('dup');
    expect(await refusal(requestor, 'release', [alloc, [dup, dup], [provider, provider], [1n, 1n]])).toMatch(/AlreadyPaid/);
  });

  it('lets only the requestor or its payer release', async () => {
    const alloc = id('b');
    await write(requestor, escrow, c.GolemflowEscrow.abi, 'lock', [alloc, glmToWei('5'), deadline(), payer.address]);
    expect(await refusal(stranger, 'release', [alloc, [id('x')], [stranger.address], [glmToWei('1')]])).toMatch(/NotAllowed/);
    expect(await refusal(requestor, 'lock', [alloc, glmToWei('1'), deadline(), payer.address])).toMatch(/AllocationExists/);
    expect(await refusal(requestor, 'lock', [id('z'), 0n, deadline(), payer.address])).toMatch(/amount is zero/);
  });

  it('returns the remainder to the requestor when the job ends, once', async () => {
    const alloc = id('c');
    await write(requestor, escrow, c.GolemflowEscrow.abi, 'lock', [alloc, glmToWei('5'), deadline(), payer.address]);
    await write(requestor, escrow, c.GolemflowEscrow.abi, 'release', [alloc, [id('q')], [provider], [glmToWei('2')]]);
    const before = await balance(requestor.address);
    expect(await refusal(stranger, 'close', [alloc])).toMatch(/DeadlineNotReached/);
    await write(requestor, escrow, c.GolemflowEscrow.abi, 'close', [alloc]);
    expect((await balance(requestor.address)) - before).toBe(glmToWei('3'));
    expect(await refusal(requestor, 'close', [alloc])).toMatch(/AllocationClosed/);
    expect(await refusal(requestor, 'release', [alloc, [id('r')], [provider], [1n]])).toMatch(/AllocationClosed/);
  });

  it('lets anyone return the remainder to the requestor after the deadline', async () => {
    const alloc = id('d');
    const block = await pub.getBlock();
    await write(requestor, escrow, c.GolemflowEscrow.abi, 'lock', [alloc, glmToWei('2'), block.timestamp + 60n, payer.address]);
    const test = createTestClient({ mode: 'anvil', transport: http(rpc()) });
    await test.increaseTime({ seconds: 120 });
    await test.mine({ blocks: 1 });
    const before = await balance(requestor.address);
    await write(stranger, escrow, c.GolemflowEscrow.abi, 'close', [alloc]);
    expect((await balance(requestor.address)) - before).toBe(glmToWei('2'));
  });
});


