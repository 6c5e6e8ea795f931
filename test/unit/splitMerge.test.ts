import { describe, expect, it } from 'vitest';
import { validateJobSpec } from '../../core/jobSpec.js';
import { mergeOutputs, planArchive } from '../../core/merge.js';
import { countSubtasks, fillCommand, splitJob } from '../../core/split.js';
import { formatSize, parseSize } from '../../core/units.js';

const ref = `sha256:${'a'.repeat(64)}`;

describe('split', () => {
  it('cuts a range into steps, the last one short', () => {
    const spec = validateJobSpec({ image: 'x', command: ['primes', '{start}', '{end}'], split: { kind: 'range', start: 0, end: 25, step: 10 } });
    expect(splitJob(spec).map((s) => s.command)).toEqual([
      ['primes', '0', '10'],
      ['primes', '10', '20'],
      ['primes', '20', '25'],
    ]);
    expect(countSubtasks(spec)).toBe(3);
  });

  it('groups frames, inclusive of the last', () => {
    const spec = validateJobSpec({ image: 'x', command: ['render', '{start}', '{end}', '{frame}'], split: { kind: 'frames', first: 1, last: 5, framesPerSubtask: 2 } });
    expect(splitJob(spec).map((s) => s.params)).toEqual([
      { index: 0, start: 1, end: 2, frame: 1, first: 1, last: 5 },
      { index: 1, start: 3, end: 4, frame: 3, first: 1, last: 5 },
      { index: 2, start: 5, end: 5, frame: 5, first: 1, last: 5 },
    ]);
  });

  it('gives each input its own subtask, beside the shared inputs', () => {
    const spec = validateJobSpec({
      image: 'x',
      command: ['thumb', '{input}'],
      inputs: [{ name: 'settings.json', ref }],
      split: { kind: 'inputs', inputs: [{ name: 'a.png', ref }, { name: 'b.png', ref }] },
    });
    const [a, b] = splitJob(spec);
    expect(a.command).toEqual(['thumb', '/in/a.png']);
    expect(b.inputs.map((i) => i.name)).toEqual(['settings.json', 'b.png']);
  });

  it('names each batch input for its outputs: {name} and {stem}', () => {
    const spec = validateJobSpec({
      image: 'x',
      command: ['thumb', '{input}', '/out/{stem}.thumb.png', '{name}'],
      split: { kind: 'inputs', inputs: [{ name: 'cat.photo.jpg', ref }, { name: 'README', ref }] },
    });
    expect(splitJob(spec).map((s) => s.command)).toEqual([
      ['thumb', '/in/cat.photo.jpg', '/out/cat.photo.thumb.png', 'cat.photo.jpg'],
      ['thumb', '/in/README', '/out/README.thumb.png', 'README'],
    ]);
  });

  it('refuses batch inputs whose names clash, with each other or with a common input', () => {
    expect(() =>
      validateJobSpec({
        image: 'x',
        command: ['thumb', '{input}'],
        inputs: [{ name: 'a.png', ref }],
        split: { kind: 'inputs', inputs: [{ name: 'a.png', ref }, { name: 'b.png', ref }, { name: 'b.png', ref }] },
      }),
    ).toThrow(/\/split\/inputs\/0\/name: "a.png" is also the name of a common input.*\/split\/inputs\/2\/name: duplicates the name "b.png"/);
    expect(() => validateJobSpec({ image: 'x', command: ['a', '{name}'], split: { kind: 'range', start: 0, end: 2, step: 1 } })).toThrow(
      '/command/1: placeholder {name} is not provided by a range split',
    );
  });

  it('leaves text without placeholders alone', () => {
    expect(fillCommand(['echo', '{start}-{end}', '{}', 'plain'], { start: 1, end: 2 })).toEqual(['echo', '1-2', '{}', 'plain']);
  });
});

describe('archive merge', () => {
  const out = (p: string, r = ref) => ({ path: p, ref: r, size: 1 });
  it('keeps the paths the subtasks wrote, in subtask and path order', () => {
    const plan = planArchive([
      { index: 1, outputs: [out('b.png'), out('a.png')] },
      { index: 0, outputs: [out('z.png')] },
      { index: 2, outputs: [] },
    ]);
    expect(plan.clash).toBeNull();
    expect(plan.entries.map((e) => e.path)).toEqual(['z.png', 'a.png', 'b.png']);
  });

  it('puts every entry under its subtask folder when two subtasks wrote the same path', () => {
    const plan = planArchive([
      { index: 0, outputs: [out('result.txt'), out('log/a.txt')] },
      { index: 12, outputs: [out('result.txt')] },
    ]);
    expect(plan.clash).toEqual({ path: 'result.txt', subtasks: [0, 12] });
    expect(plan.entries.map((e) => e.path)).toEqual(['000000/log/a.txt', '000000/result.txt', '000012/result.txt']);
  });
});

describe('merge', () => {
  it('sums integers exactly, beyond double precision', () => {
    expect(mergeOutputs('sum', [Buffer.from('9007199254740993\n'), Buffer.from('1\n')]).value).toBe('9007199254740994');
    expect(mergeOutputs('sum', [Buffer.from('0.5'), Buffer.from('1.25')]).value).toBe('1.75');
  });

  it('says which subtask printed something that is not a number', () => {
    expect(() => mergeOutputs('sum', [Buffer.from('1'), Buffer.from('oops')])).toThrow('subtask 1 printed "oops", not a number to sum');
  });

  it('concatenates in order and keeps big results out of the value', () => {
    expect(mergeOutputs('concat', [Buffer.from('a\n'), Buffer.from('b\n')])).toEqual({ value: 'a\nb\n', bytes: Buffer.from('a\nb\n') });
    const big = mergeOutputs('concat', [Buffer.alloc(5000, 120)]);
    expect(big.value).toBeNull();
    expect(big.bytes?.length).toBe(5000);
    expect(mergeOutputs('none', [Buffer.from('x')])).toEqual({ value: null, bytes: null });
  });
});

describe('sizes', () => {
  it('reads Docker-style sizes in binary units', () => {
    expect(parseSize('256m')).toBe(256 * 1024 ** 2);
    expect(parseSize('2g')).toBe(2 * 1024 ** 3);
    expect(parseSize('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseSize('1.5k')).toBe(1536);
    expect(parseSize('100')).toBe(100);
    expect(parseSize('lots')).toBeUndefined();
    expect(formatSize(16 * 1024 ** 2)).toBe('16 MiB');
  });
});
