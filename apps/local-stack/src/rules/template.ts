/**
 * IoT substitution templates (`${racerId}`, `${timestamp()}`, `errors/${parse_time(...)}/${newuuid()}.json`),
 * evaluated against the incoming message. Terraform's `$${` escape (how templates sit in cdk.tf.json) is
 * accepted and read as `${`. Pure apart from `newuuid()`.
 */
import { ConfigurationError } from '../errors.js';
import { type Expr, evaluate, type MessageContext, parseExpression, renderValue } from './expression.js';

export type TemplatePart = { kind: 'text'; text: string } | { kind: 'expr'; expr: Expr; source: string };

export interface Template {
  source: string;
  parts: TemplatePart[];
}

export function parseTemplate(source: string): Template {
  const text = source.replaceAll('$${', '${');
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('${', i);
    if (start < 0) {
      parts.push({ kind: 'text', text: text.slice(i) });
      break;
    }
    if (start > i) parts.push({ kind: 'text', text: text.slice(i, start) });
    const end = findClose(text, start + 2);
    if (end < 0)
      throw new ConfigurationError('template', `unclosed "\${" at ${start} in ${JSON.stringify(source)}`);
    const body = text.slice(start + 2, end);
    parts.push({ kind: 'expr', expr: parseExpression(body), source: body });
    i = end + 1;
  }
  return { source, parts };
}

/** The matching `}`, skipping quoted strings (a pattern such as "yyyy/MM/dd" may hold anything). */
function findClose(text: string, from: number): number {
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '}') return i;
  }
  return -1;
}

/** Renders a template; an Undefined expression renders empty, as on IoT. */
export function renderTemplate(template: Template, ctx: MessageContext): string {
  let out = '';
  for (const part of template.parts) {
    out += part.kind === 'text' ? part.text : renderValue(evaluate(part.expr, ctx));
  }
  return out;
}
