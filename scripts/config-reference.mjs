#!/usr/bin/env node
// Writes docs/configuration.md, the configuration reference, from the TSDoc of the public config
// types in src/config/types.ts: every type reachable from EpoxyConfig, each property with its
// type, whether it is required, and its comment. The types are the source of truth; this page is
// their readable form, so it is generated rather than written (test/docs.test.ts checks that it
// is up to date). Usage: node scripts/config-reference.mjs [output file]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TYPES = 'src/config/types.ts';
const ROOT_TYPE = 'EpoxyConfig';

/** Name → interface or type alias declaration, for every one in the file. */
function declarations(source) {
  const found = new Map();
  for (const statement of source.statements) {
    if (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement)) found.set(statement.name.text, statement);
  }
  return found;
}

function isExported(node) {
  return (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
}

/** The TSDoc text of a node, paragraphs kept; '' when it has none. */
function docOf(node) {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  return docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join('\n\n').trim();
}

/** Names of the declarations `node` refers to, in source order. */
function referencesOf(node, known) {
  const names = [];
  const visit = (n) => {
    if (ts.isTypeReferenceNode(n) && ts.isIdentifier(n.typeName) && known.has(n.typeName.text)) names.push(n.typeName.text);
    if (ts.isExpressionWithTypeArguments(n) && ts.isIdentifier(n.expression) && known.has(n.expression.text)) names.push(n.expression.text);
    ts.forEachChild(n, visit);
  };
  visit(node);
  return names;
}

/** An interface's properties, those of the interfaces it extends first. */
function membersOf(decl, known) {
  const inherited = (decl.heritageClauses ?? []).flatMap((clause) =>
    clause.types.flatMap((t) => {
      const base = ts.isIdentifier(t.expression) ? known.get(t.expression.text) : undefined;
      return base && ts.isInterfaceDeclaration(base) ? membersOf(base, known) : [];
    }),
  );
  return [...inherited, ...decl.members];
}

/** Every exported declaration reachable from the root, breadth first: the top level comes first. */
function reachable(known) {
  const order = [];
  const seen = new Set([ROOT_TYPE]);
  const queue = [ROOT_TYPE];
  while (queue.length > 0) {
    const name = queue.shift();
    const decl = known.get(name);
    if (isExported(decl)) order.push(name);
    const parts = ts.isInterfaceDeclaration(decl) ? [...(decl.heritageClauses ?? []), ...membersOf(decl, known)] : [decl.type];
    for (const ref of parts.flatMap((p) => referencesOf(p, known))) {
      if (!seen.has(ref)) {
        seen.add(ref);
        queue.push(ref);
      }
    }
  }
  return order;
}

const oneLine = (text) => text.replace(/\s*\n\s*/g, ' ').trim();
const cell = (text) => text.replace(/\|/g, '\\|');
const anchor = (name) => name.toLowerCase();

/** A type as code, with the names of documented types linked to their sections. */
function linkedType(text, documented) {
  const parts = [];
  let last = 0;
  for (const m of text.matchAll(/\b[A-Z]\w*\b/g)) {
    if (!documented.has(m[0])) continue;
    if (m.index > last) parts.push(`\`${text.slice(last, m.index)}\``);
    parts.push(`[\`${m[0]}\`](#${anchor(m[0])})`);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(`\`${text.slice(last)}\``);
  return cell(parts.join(''));
}

/** A property's type as written; a method as the function type it is: `(name: string) => PoolView`. */
function typeText(member, source) {
  if (ts.isPropertySignature(member)) return oneLine(member.type.getText(source));
  const params = member.parameters.map((p) => p.getText(source)).join(', ');
  return oneLine(`(${params}) => ${member.type.getText(source)}`);
}

function propertySection(decl, known, documented, source) {
  const rows = membersOf(decl, known)
    .filter((m) => ts.isPropertySignature(m) || ts.isMethodSignature(m))
    .map((m) => {
      const name = m.name.getText(source);
      const required = m.questionToken ? 'no' : 'yes';
      return `| \`${name}\` | ${linkedType(typeText(m, source), documented)} | ${required} | ${cell(oneLine(docOf(m)))} |`;
    });
  return ['| Field | Type | Required | Description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

function section(name, known, documented, source) {
  const decl = known.get(name);
  const doc = docOf(decl);
  const out = [`## ${name}`, ''];
  if (doc) out.push(doc, '');
  if (ts.isInterfaceDeclaration(decl)) {
    out.push(propertySection(decl, known, documented, source));
  } else {
    // A union written one member per line keeps its layout: `type Balance =\n  | 'roundrobin'`.
    const body = decl.type.getText(source);
    out.push('```ts', `type ${name} =${body.startsWith('|') ? '\n  ' : ' '}${body};`, '```');
  }
  return out.join('\n');
}

export function generate() {
  const text = readFileSync(join(root, TYPES), 'utf8');
  const source = ts.createSourceFile(TYPES, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const known = declarations(source);
  const names = reachable(known);
  const documented = new Set(names);
  const header = [
    '<!-- Generated by scripts/config-reference.mjs from src/config/types.ts: edit the types, then run `npm run docs`. -->',
    '',
    '# Configuration reference',
    '',
    'An `epoxy.config.ts` default-exports an [`EpoxyConfig`](#epoxyconfig); wrap it in `defineConfig()`',
    '(`import { defineConfig } from \'epoxy\'`) for type checking. `epoxy check <file>` validates it and',
    'reports every problem with the path of its field. Times are in milliseconds.',
    '',
    `Types: ${names.map((n) => `[${n}](#${anchor(n)})`).join(' · ')}`,
  ].join('\n');
  return `${[header, ...names.map((n) => section(n, known, documented, source))].join('\n\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = process.argv[2] ?? join(root, 'docs/configuration.md');
  writeFileSync(out, generate());
}
