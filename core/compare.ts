/**
 * How two copies' results are compared, when byte equality is too strict: images within a
 * tolerance (a share of differing pixels, a PSNR floor), or the user's own comparator command.
 * Pure: decoded pixels in, a verdict with its evidence out (pixelmatch does the per-pixel work).
 */
import pixelmatch from 'pixelmatch';

export interface ImageTolerance {
  /** pixelmatch's per-pixel colour distance (0..1) below which two pixels count as equal. */
  pixelThreshold: number;
  /** Largest share of differing pixels (0..1) for two images to count as the same. */
  maxDiffRatio: number;
  /** Smallest peak signal-to-noise ratio, in dB, for two images to count as the same (null: not checked). */
  minPsnr: number | null;
}

export interface ComparatorCommand {
  image: string;
  /** Run with the two results under /in/a and /in/b; exit 0: same, exit 1: different, else it failed. */
  command: string[];
  timeoutSeconds: number;
}

export type CompareSpec = { kind: 'exact' } | ({ kind: 'image' } & ImageTolerance) | ({ kind: 'command' } & ComparatorCommand);

export interface DecodedImage {
  width: number;
  height: number;
  /** RGBA, 8 bits a channel. */
  data: Uint8Array;
}

export interface ImageComparison {
  same: boolean;
  diffPixels: number;
  diffRatio: number;
  /** In dB; Infinity for identical pixels. */
  psnr: number;
  detail: string;
}

/** PSNR over the RGB channels (alpha ignored), peak 255. */
export function psnrOf(a: DecodedImage, b: DecodedImage): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    for (let c = 0; c < 3; c++) {
      const d = a.data[i + c] - b.data[i + c];
      sum += d * d;
    }
    n += 3;
  }
  if (sum === 0) return Infinity;
  return 10 * Math.log10((255 * 255) / (sum / n));
}

export function formatPsnr(psnr: number): string {
  return Number.isFinite(psnr) ? `${psnr.toFixed(1)} dB` : '∞ dB';
}

/** Compares two decoded images against a tolerance; images of different sizes are never the same. */
export function compareImages(a: DecodedImage, b: DecodedImage, tol: ImageTolerance): ImageComparison {
  if (a.width !== b.width || a.height !== b.height) {
    const detail = `sizes differ: ${a.width}×${a.height} vs ${b.width}×${b.height}`;
    return { same: false, diffPixels: Math.max(a.width * a.height, b.width * b.height), diffRatio: 1, psnr: 0, detail };
  }
  const total = a.width * a.height;
  const diffPixels = pixelmatch(a.data, b.data, null, a.width, a.height, { threshold: tol.pixelThreshold, includeAA: true });
  const diffRatio = total === 0 ? 0 : diffPixels / total;
  const psnr = psnrOf(a, b);
  const failures: string[] = [];
  if (diffRatio > tol.maxDiffRatio) failures.push(`${(diffRatio * 100).toFixed(3)}% of pixels differ (most allowed ${(tol.maxDiffRatio * 100).toFixed(3)}%)`);
  if (tol.minPsnr !== null && psnr < tol.minPsnr) failures.push(`PSNR ${formatPsnr(psnr)} < ${tol.minPsnr} dB`);
  const detail = failures.length
    ? failures.join('; ')
    : `${diffPixels} of ${total} pixels differ (${(diffRatio * 100).toFixed(3)}%), PSNR ${formatPsnr(psnr)}: within tolerance`;
  return { same: failures.length === 0, diffPixels, diffRatio, psnr, detail };
}

/** Cuts a rectangle out of an image (a crop spot check compares it with a re-rendered crop). */
export function cropImage(img: DecodedImage, x: number, y: number, width: number, height: number): DecodedImage {
  const data = new Uint8Array(width * height * 4);
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * img.width + x) * 4;
    data.set(img.data.subarray(from, from + width * 4), row * width * 4);
  }
  return { width, height, data };
}
