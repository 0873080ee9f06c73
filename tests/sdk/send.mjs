// Sends CloudEvents as the official JavaScript SDK (npm cloudevents 10)
// writes them: HTTP binary and structured, spec 0.3 and 1.0, through node's
// fetch. Prints each event id it sent, one per line.
//
//   node send.mjs <http-url> <type> <id-prefix>
import { CloudEvent, HTTP } from "cloudevents";

const [url, type, prefix] = process.argv.slice(2);
const sent = [];
for (const specversion of ["0.3", "1.0"]) {
  for (const mode of ["binary", "structured"]) {
    const id = `${prefix}-js-http-${mode}-${specversion}`;
    const event = new CloudEvent({ specversion, type, source: "/sdk/js", id, subject: "sdk", datacontenttype: "application/json", data: { sdk: "js" } });
    const message = HTTP[mode](event);
    const response = await fetch(url, { method: "POST", headers: message.headers, body: message.body });
    if (response.status !== 202) {
      console.error(`${id}: ${response.status} ${await response.text()}`);
      process.exit(1);
    }
    sent.push(id);
  }
}
console.log(sent.join("\n"));
