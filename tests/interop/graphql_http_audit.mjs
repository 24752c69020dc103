// Runs the graphql-http audit suite (GraphQL over HTTP conformance) against a running server:
//
//   node graphql_http_audit.mjs http://127.0.0.1:8080/graphql
//
// Prints one line per audit (status, id, level and name, and why when it did not pass), then
// a last line `AUDIT-SUMMARY {json}` for tests/api/graphql_over_http.rs to read. Exits 1 when
// any MUST fails, 2 when the audit could not run.
import { auditServer } from 'graphql-http';

const url = process.argv[2] ?? process.env.GRAPHQL_URL;
if (!url) {
  console.error('usage: node graphql_http_audit.mjs <url of the /graphql endpoint>');
  process.exit(2);
}

let results;
try {
  results = await auditServer({ url });
} catch (err) {
  console.error(`the audit could not run against ${url}: ${err?.stack ?? err}`);
  process.exit(2);
}

const level = (name) => name.split(' ')[0]; // MUST, SHOULD or MAY
const summary = { MUST: {}, SHOULD: {}, MAY: {}, failed: { MUST: [], SHOULD: [], MAY: [] } };
for (const r of results) {
  const lvl = level(r.name);
  summary[lvl] ??= {};
  summary[lvl][r.status] = (summary[lvl][r.status] ?? 0) + 1;
  let line = `${r.status.padEnd(6)} ${r.id} ${r.name}`;
  if (r.status !== 'ok') {
    (summary.failed[lvl] ??= []).push(r.id);
    let detail = r.reason ?? '';
    if (r.response) {
      const body = await r.response.text().catch(() => '');
      detail += ` (HTTP ${r.response.status}: ${body.slice(0, 300)})`;
    }
    line += `\n         ${detail}`;
  }
  console.log(line);
}
console.log(`AUDIT-SUMMARY ${JSON.stringify(summary)}`);
process.exit(summary.failed.MUST.length > 0 ? 1 : 0);
