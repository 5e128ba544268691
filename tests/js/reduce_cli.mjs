// Runs the browser's reducer for pytest: reads {"state": …, "events": […]} as JSON on
// stdin, writes {"state": comparable(reduce(state, events)), "as_of", "stale"} on stdout.
// Not a test file itself (node --test does not pick up this name).
import { comparable, reduce } from "../../src/jietong/web/static/desktop/state.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
const state = reduce(input.state, input.events);
process.stdout.write(
  JSON.stringify({ state: comparable(state), as_of: state.as_of, stale: state.stale, skip: state.skip }),
);
