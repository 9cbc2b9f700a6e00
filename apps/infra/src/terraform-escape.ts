import { escapeForTerraform } from '@alleycat/schema';

/**
 * `${x}` → `$${x}`: an IoT substitution template (or policy variable) inside a Terraform string.
 *
 * Delegates to `@alleycat/schema`'s `escapeForTerraform`. That function currently passes the replacement as a
 * string to `replaceAll`, where `$$` stands for one `$`, so it returns its input unchanged; until it is fixed,
 * this falls back to a replacer function. The synthesized-JSON tests assert the escaped form either way.
 */
export function escapeTemplate(template: string): string {
  const escaped = escapeForTerraform(template);
  if (escaped !== template || !template.includes('${')) return escaped;
  return template.replaceAll('${', () => '$${');
}
