// Validates an AsyncAPI document with the AsyncAPI parser: the document against the
// specification's JSON schema, every $ref resolved (the Avro schema files included) and every
// Avro payload parsed. Prints each finding; exits 1 when one is an error.
//
//   node validate.mjs docs/asyncapi.yaml
import { resolve } from 'node:path';
import { Parser, fromFile, DiagnosticSeverity } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const file = resolve(process.argv[2] ?? 'docs/asyncapi.yaml');
const parser = new Parser({ schemaParsers: [AvroSchemaParser()] });
const { document, diagnostics } = await fromFile(parser, file).parse();

const names = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning' };
let errors = 0;
for (const finding of diagnostics) {
  const severity = names[finding.severity];
  if (!severity) continue; // information and hints, such as "a newer AsyncAPI exists"
  if (finding.severity === DiagnosticSeverity.Error) errors += 1;
  console.log(`${severity}: ${(finding.path ?? []).join('.')}: ${finding.message}`);
}
if (!document || errors > 0) {
  console.log(`asyncapi: ${file}: ${errors} error(s)`);
  process.exit(1);
}
const version = document.version();
const channels = document.channels().length;
const messages = document.messages().length;
const operations = document.operations().length;
console.log(`asyncapi: ${file}: valid AsyncAPI ${version}, ${channels} channels, ` +
  `${messages} messages, ${operations} operations`);
