// Runs kpi.js's contribution() for pytest (parity with kpi.py): reads {"day", "entries"}
// on stdin, writes the list of contributions (or nulls) on stdout. Not a test file itself.
import { contribution } from "../../src/jietong/web/static/desktop/kpi.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { day, entries } = JSON.parse(Buffer.concat(chunks).toString("utf8"));
process.stdout.write(JSON.stringify(entries.map((entry) => contribution(entry, day))));
