// A child process of test/checkpoint-crash.test.ts: saves checkpoints to one path through the
// built package (dist/), as its job (JSON in argv[2]) says, until it is done or killed. It
// reports on stdout, one line per event, with synchronous writes so that a line printed before
// a SIGKILL always reaches the test:
//   ready | done <generation or step> | busy <pid holding the lock> <message as JSON> | paused
"use strict";
const fs = require("fs");
const path = require("path");
const { chunkOf, chunkCount } = require("./content");

const job = JSON.parse(process.argv[2]);
const dist = path.join(__dirname, "..", "..", "dist");
const say = (line) => fs.writeSync(1, `${line}\n`);
const BUSY = "ERR_MICROADAM_CHECKPOINT_BUSY";

/** One checkpoint through openAtomicFile(Async), in many small writes so that kills land mid-write. */
async function saveOnce(file, generation, { until } = {}) {
  const count = chunkCount(job.chunkBytes, job.bytes);
  const chunk = (i) => chunkOf(job.writer, generation, i, job.chunkBytes, job.bytes);
  const pauseAt = until === undefined ? -1 : count >> 1; // the slow writer stops halfway
  if (job.api === "async") {
    const writer = await file.openAtomicFileAsync(job.target);
    for (let i = 0; i < count; i++) {
      if (i === pauseAt) until();
      await writer.write(chunk(i));
    }
    await writer.commit();
  } else {
    const writer = file.openAtomicFile(job.target);
    for (let i = 0; i < count; i++) {
      if (i === pauseAt) until();
      writer.write(chunk(i));
    }
    writer.commit();
  }
}

/** Saves generation after generation (a BUSY save is reported and retried with the next one). */
async function loop() {
  const file = require(path.join(dist, "checkpoint", "file.js"));
  say("ready");
  const end = job.forMs === undefined ? Infinity : Date.now() + job.forMs;
  for (let generation = job.first; Date.now() < end; generation++) {
    try {
      await saveOnce(file, generation);
      say(`done ${generation}`);
    } catch (error) {
      if (error.code !== BUSY) throw error;
      say(`busy ${error.pid} ${JSON.stringify(error.message)}`);
    }
  }
}

/** One save; a BUSY one is reported, not thrown. */
async function once() {
  const file = require(path.join(dist, "checkpoint", "file.js"));
  try {
    await saveOnce(file, job.first);
    say(`done ${job.first}`);
  } catch (error) {
    if (error.code !== BUSY) throw error;
    say(`busy ${error.pid} ${JSON.stringify(error.message)}`);
  }
}

/** One save that stops halfway ("paused") until a line arrives on stdin. */
async function slow() {
  const file = require(path.join(dist, "checkpoint", "file.js"));
  const waitForGo = () => {
    say("paused");
    fs.readSync(0, Buffer.alloc(16)); // blocks until the test writes a line
  };
  await saveOnce(file, job.first, { until: waitForGo });
  say(`done ${job.first}`);
}

/** A MicroAdam state stepped and saved with saveState in a loop, resuming from the file if there is one. */
function stateLoop() {
  const { createMicroAdamState, loadState, microAdamStep, saveState } = require(path.join(dist, "index.js"));
  const state = createMicroAdamState({ numel: job.numel, topkBlockSize: 64, quantBlockSize: 16, window: 3, density: 0.1 });
  if (fs.existsSync(job.target)) loadState(state, job.target);
  const params = new Float32Array(job.numel).fill(0.5);
  // The same gradient every step, so that saving is most of the loop (the state still changes).
  const grads = Float32Array.from({ length: job.numel }, (_, i) => ((i * 7) & 127) / 64 - 1);
  say("ready");
  for (;;) {
    microAdamStep(state, params, grads, { lr: 0.01 });
    saveState(state, job.target);
    say(`done ${state.step}`);
  }
}

const run = { loop, once, slow, state: stateLoop }[job.mode];
Promise.resolve()
  .then(run)
  .catch((error) => {
    process.stderr.write(`${error.code ?? ""} ${error.stack}\n`);
    process.exit(1);
  });
