// smsSegments() for pytest (parity with channels/sms/wire.py): texts in, counts out.
import { smsSegments } from "../../src/jietong/web/static/desktop/composer.js";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const texts = JSON.parse(Buffer.concat(chunks).toString("utf8"));
process.stdout.write(JSON.stringify(texts.map((t) => smsSegments(t))));
