/** Writes the JSON Schema files shipped in `json-schema/` from the definitions (`pnpm generate:json-schema`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jsonSchemas, schemaFileText } from '../src/json-schema.js';

const folder = fileURLToPath(new URL('../json-schema/', import.meta.url));
for (const [file, schema] of Object.entries(jsonSchemas())) {
  writeFileSync(folder + file, `${schemaFileText(schema)}\n`);
  console.log(`wrote json-schema/${file}`);
}
