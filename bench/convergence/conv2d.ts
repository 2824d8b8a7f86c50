// A "valid" 2-D convolution as im2col + matMul, with its gradient written the same way.
//
// Why not tf.conv2d: on the pure-JS CPU backend its backward pass (conv2DBackpropFilter/Input)
// took 1.6–1.8 s per batch of 64 MNIST images here, against about 0.1 s for a whole training step
// of this net done with im2col. The result is the same convolution (test/convergence-bench.test.ts
// compares both the value and the gradients with tf.conv2d's).

import * as tf from "@tensorflow/tfjs";

/** Output size of a valid convolution. */
export function convOutputSize(input: number, kernel: number, stride: number): number {
  return Math.floor((input - kernel) / stride) + 1;
}

/** Rows (n·OH·OW) of patches (K·K·C), in NHWC order, of a valid convolution. */
function im2col(x: Float32Array, n: number, h: number, w: number, c: number, k: number, stride: number): Float32Array {
  const oh = convOutputSize(h, k, stride);
  const ow = convOutputSize(w, k, stride);
  const rowLength = k * c;
  const out = new Float32Array(n * oh * ow * k * rowLength);
  let o = 0;
  for (let s = 0; s < n; s++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ky = 0; ky < k; ky++) {
          const start = ((s * h + oy * stride + ky) * w + ox * stride) * c;
          out.set(x.subarray(start, start + rowLength), o);
          o += rowLength;
        }
  return out;
}

/** The adjoint of im2col: every patch entry added back to the pixel it came from. */
function col2im(cols: Float32Array, n: number, h: number, w: number, c: number, k: number, stride: number): Float32Array {
  const oh = convOutputSize(h, k, stride);
  const ow = convOutputSize(w, k, stride);
  const rowLength = k * c;
  const out = new Float32Array(n * h * w * c);
  let o = 0;
  for (let s = 0; s < n; s++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++)
        for (let ky = 0; ky < k; ky++) {
          const start = ((s * h + oy * stride + ky) * w + ox * stride) * c;
          for (let q = 0; q < rowLength; q++) out[start + q] += cols[o++];
        }
  return out;
}

/**
 * conv2d(x, filter, stride, 'valid') for x of shape [n, h, w, c] and the filter flattened to
 * [k·k·c, outChannels] (a [k, k, c, out] filter reshaped).
 */
export function conv2dValid(x: tf.Tensor4D, filter: tf.Tensor2D, kernel: number, stride: number): tf.Tensor4D {
  // customGrad's type lists its arguments as (Tensor | GradSaveFunc)[]; the last one is `save`.
  const op = tf.customGrad(((input: tf.Tensor, weights: tf.Tensor, save: tf.GradSaveFunc) => {
    const [n, h, w, c] = input.shape;
    const oh = convOutputSize(h, kernel, stride);
    const ow = convOutputSize(w, kernel, stride);
    const out = weights.shape[1]!;
    const cols = tf.tensor2d(im2col(input.dataSync() as Float32Array, n, h, w, c, kernel, stride), [n * oh * ow, kernel * kernel * c]);
    save([cols, weights]);
    return {
      value: tf.reshape(tf.matMul(cols, weights as tf.Tensor2D), [n, oh, ow, out]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedCols, savedWeights] = saved as [tf.Tensor2D, tf.Tensor2D];
        const dy2 = tf.reshape(dy, [n * oh * ow, out]) as tf.Tensor2D;
        const dWeights = tf.matMul(savedCols, dy2, true, false);
        const dCols = tf.matMul(dy2, savedWeights, false, true);
        const dInput = tf.tensor4d(col2im(dCols.dataSync() as Float32Array, n, h, w, c, kernel, stride), [n, h, w, c]);
        return [dInput, dWeights];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, filter) as tf.Tensor4D;
}
