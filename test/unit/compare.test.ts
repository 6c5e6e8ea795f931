import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { compareImages, cropImage, psnrOf, type DecodedImage } from '../../core/compare.js';
import { perturbPng } from '../../adapters/misbehaviour.js';

function image(width: number, height: number, f: (x: number, y: number) => number): DecodedImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = data[i + 1] = data[i + 2] = f(x, y);
      data[i + 3] = 255;
    }
  return { width, height, data };
}
const tol = { pixelThreshold: 0.1, maxDiffRatio: 0.01, minPsnr: 30 };

describe('image comparison', () => {
  const a = image(100, 100, (x, y) => (x + y) % 256);
  it('finds identical images identical, with infinite PSNR', () => {
    const r = compareImages(a, image(100, 100, (x, y) => (x + y) % 256), tol);
    expect(r).toMatchObject({ same: true, diffPixels: 0, psnr: Infinity });
  });
  it('accepts a few pixels off within the tolerance and says how far off', () => {
    const b = image(100, 100, (x, y) => (x === 5 && y < 50 ? 255 - ((x + y) % 256) : (x + y) % 256));
    const r = compareImages(a, b, { ...tol, minPsnr: null });
    expect(r.diffPixels).toBe(50);
    expect(r.diffRatio).toBeCloseTo(0.005);
    expect(r.same).toBe(true);
    expect(r.detail).toContain('50 of 10000 pixels differ (0.500%)');
    expect(compareImages(a, b, { ...tol, minPsnr: null, maxDiffRatio: 0.001 })).toMatchObject({ same: false, detail: expect.stringContaining('0.500% of pixels differ (most allowed 0.100%)') });
  });
  it('holds a PSNR floor', () => {
    const b = image(100, 100, (x, y) => Math.min(255, ((x + y) % 256) + 2));
    expect(psnrOf(a, b)).toBeCloseTo(10 * Math.log10((255 * 255) / 4), 0);
    expect(compareImages(a, b, { ...tol, minPsnr: 50 }).detail).toMatch(/PSNR 42\.\d dB < 50 dB/);
  });
  it('never matches images of different sizes', () => {
    expect(compareImages(a, image(100, 99, () => 0), tol)).toMatchObject({ same: false, detail: 'sizes differ: 100×100 vs 100×99' });
  });
  it('crops a rectangle', () => {
    const c = cropImage(a, 10, 20, 3, 2);
    expect([c.width, c.height, c.data[0], c.data[3 * 4]]).toEqual([3, 2, 30, 31]);
  });
  it("the test provider's noise stays within a sane tolerance and its wrong images do not", () => {
    const png = new PNG({ width: 100, height: 100 });
    png.data.set(a.data);
    const bytes = PNG.sync.write(png);
    const decode = (b: Buffer) => ({ ...PNG.sync.read(b), data: PNG.sync.read(b).data });
    expect(compareImages(a, decode(perturbPng(bytes, 'noise', 1)), { pixelThreshold: 0, maxDiffRatio: 0.001, minPsnr: 40 }).same).toBe(true);
    expect(compareImages(a, decode(perturbPng(bytes, 'noise', 1)), { pixelThreshold: 0, maxDiffRatio: 0, minPsnr: null }).same).toBe(false);
    expect(compareImages(a, decode(perturbPng(bytes, 'wrong', 1)), tol).same).toBe(false);
  });
});
